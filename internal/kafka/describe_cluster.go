package kafka

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
)

// handleDescribeCluster describes the one-broker cluster. As in Kafka it
// needs no permission, but its authorized operations are 0 unless r may
// DESCRIBE the cluster.
func handleDescribeCluster(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.ClusterID = s.b.ClusterID()
	resp.ControllerID = s.cfg.NodeID
	resp.EndpointType = req.EndpointType
	resp.ClusterAuthorizedOperations = s.authorizedOps(r, req.IncludeClusterAuthorizedOperations, access.Cluster, access.ClusterName)
	b := kmsg.NewDescribeClusterResponseBroker()
	b.NodeID, b.Host, b.Port = s.cfg.NodeID, r.c.lis.AdvertisedHost, r.c.lis.AdvertisedPort
	resp.Brokers = append(resp.Brokers, b)
	return resp, nil
}
