package kafka

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/broker"
)

// handleDescribeLogDirs reports the one data dir and the size of each
// requested partition (all of them for a null topic list). It needs
// DESCRIBE on the cluster (CLUSTER_AUTHORIZATION_FAILED and no dirs).
func handleDescribeLogDirs(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	if denied := s.accessCluster(r, access.Describe); denied != nil {
		resp.ErrorCode = denied.Code // v3+; before, the empty list says it
		return resp, nil
	}
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = s.b.DataDir()
	dir.TotalBytes, dir.UsableBytes = -1, -1
	if req.Topics == nil {
		for _, t := range s.b.Topics() {
			dir.Topics = append(dir.Topics, logDirTopic(t, nil))
		}
	} else {
		for _, rt := range req.Topics {
			if t := s.b.Topic(rt.Topic); t != nil {
				dir.Topics = append(dir.Topics, logDirTopic(t, rt.Partitions))
			}
		}
	}
	resp.Dirs = append(resp.Dirs, dir)
	return resp, nil
}

// logDirTopic describes the partitions of t named in only (all for nil).
func logDirTopic(t *broker.Topic, only []int32) kmsg.DescribeLogDirsResponseDirTopic {
	ot := kmsg.NewDescribeLogDirsResponseDirTopic()
	ot.Topic = t.Name
	for _, p := range t.Partitions() {
		if only != nil && !slices.Contains(only, p.Index) {
			continue
		}
		op := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		op.Partition, op.Size = p.Index, p.Size()
		ot.Partitions = append(ot.Partitions, op)
	}
	return ot
}
