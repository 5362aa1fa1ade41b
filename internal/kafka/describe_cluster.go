package kafka

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleDescribeCluster describes the one-broker cluster.
func handleDescribeCluster(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.ClusterID = s.b.ClusterID()
	resp.ControllerID = s.cfg.NodeID
	resp.EndpointType = req.EndpointType
	resp.ClusterAuthorizedOperations = authorizedOps(req.IncludeClusterAuthorizedOperations, clusterOps)
	b := kmsg.NewDescribeClusterResponseBroker()
	b.NodeID, b.Host, b.Port = s.cfg.NodeID, s.cfg.AdvertisedHost, s.cfg.AdvertisedPort
	resp.Brokers = append(resp.Brokers, b)
	return resp, nil
}
