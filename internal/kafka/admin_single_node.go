package kafka

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/broker"
)

// The cluster-shaped admin APIs, answered with their meaning on one node:
// every partition has one replica, this node, which is its leader and its
// preferred leader, so there is never an election to run nor a
// reassignment in progress. Admin tools (kafka-leader-election.sh,
// kafka-reassign-partitions.sh, kadm, Kafka UI) call them and expect
// answers, not a closed connection.

// handleElectLeaders answers ELECTION_NOT_NEEDED for every partition that
// exists: its leader is already its preferred (and only) replica. Asked
// for all partitions (null topics), Kafka lists only those whose election
// did something, so the answer is empty. It needs ALTER on the cluster.
func handleElectLeaders(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	denied := s.accessCluster(r, access.Alter)
	if denied != nil {
		resp.ErrorCode = denied.Code
	} else if req.Version >= 1 && req.ElectionType != 0 && req.ElectionType != 1 {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	for _, rt := range req.Topics {
		ot := kmsg.NewElectLeadersResponseTopic()
		ot.Topic = rt.Topic
		t := s.b.Topic(rt.Topic)
		for _, i := range rt.Partitions {
			op := kmsg.NewElectLeadersResponseTopicPartition()
			op.Partition = i
			switch {
			case denied != nil:
				op.ErrorCode = denied.Code
			case t == nil || t.Partition(i) == nil:
				op.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				op.ErrorCode = kerr.ElectionNotNeeded.Code
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp, nil
}

// handleListPartitionReassignments answers that no reassignment is in
// progress: on one node there is nowhere to move a replica to. It needs
// DESCRIBE on the cluster.
func handleListPartitionReassignments(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	if denied := s.accessCluster(r, access.Describe); denied != nil {
		resp.ErrorCode = denied.Code
	}
	return resp, nil
}

// handleAlterPartitionReassignments accepts a target of exactly this node
// (there is nothing to move), answers NO_REASSIGNMENT_IN_PROGRESS to a
// cancellation (null replicas), and INVALID_REPLICA_ASSIGNMENT to any
// other target, which names a broker that does not exist. It needs ALTER
// on the cluster.
func handleAlterPartitionReassignments(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	if denied := s.accessCluster(r, access.Alter); denied != nil {
		resp.ErrorCode = denied.Code
		return resp, nil
	}
	for _, rt := range req.Topics {
		ot := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		ot.Topic = rt.Topic
		t := s.b.Topic(rt.Topic)
		for _, rp := range rt.Partitions {
			op := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			op.Partition = rp.Partition
			switch {
			case t == nil || t.Partition(rp.Partition) == nil:
				op.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case rp.Replicas == nil:
				op.ErrorCode = kerr.NoReassignmentInProgress.Code
			case !s.isThisNode(rp.Replicas):
				op.ErrorCode = kerr.InvalidReplicaAssignment.Code
				op.ErrorMessage = strPtr(fmt.Sprintf("this cluster is one broker, node %d: a partition's replicas can only be [%d], not %v",
					s.cfg.NodeID, s.cfg.NodeID, rp.Replicas))
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp, nil
}

// isThisNode reports whether replicas is exactly this node.
func (s *Server) isThisNode(replicas []int32) bool {
	return len(replicas) == 1 && replicas[0] == s.cfg.NodeID
}

// handleDescribeProducers lists each partition's active producers: their
// id, epoch, last sequence and the start of their open transaction. It
// needs READ on the topic.
func handleDescribeProducers(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, rt := range req.Topics {
		ot := kmsg.NewDescribeProducersResponseTopic()
		ot.Topic = rt.Topic
		denied := s.access(r, access.Read, access.Topic, rt.Topic)
		t := s.b.Topic(rt.Topic)
		for _, i := range rt.Partitions {
			op := kmsg.NewDescribeProducersResponseTopicPartition()
			op.Partition = i
			var p *broker.Partition
			if t != nil {
				p = t.Partition(i)
			}
			if denied != nil {
				op.ErrorCode = denied.Code
				ot.Partitions = append(ot.Partitions, op)
				continue
			}
			if p == nil {
				op.ErrorCode = kerr.UnknownTopicOrPartition.Code
				ot.Partitions = append(ot.Partitions, op)
				continue
			}
			prods, err := p.Producers()
			if err != nil {
				op.ErrorCode, op.ErrorMessage = broker.Code(err)
			}
			for _, ap := range prods {
				kp := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
				kp.ProducerID, kp.ProducerEpoch = ap.ProducerID, int32(ap.Epoch)
				kp.LastSequence, kp.LastTimestamp = ap.LastSequence, ap.LastTimestamp
				kp.CoordinatorEpoch, kp.CurrentTxnStartOffset = 0, ap.TxnStartOffset
				op.ActiveProducers = append(op.ActiveProducers, kp)
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp, nil
}

// defaultPartitionLimit is DescribeTopicPartitions' limit when the request
// gives none above 0 (Kafka's max.request.partition.size.limit, 2000).
const defaultPartitionLimit = 2000

// handleDescribeTopicPartitions (KIP-966) describes topics in name order,
// at most ResponsePartitionLimit partitions per answer, continuing from
// the request's cursor and giving the next one when it stops early. No
// topics named means every topic the principal may DESCRIBE; a named one
// it may not is TOPIC_AUTHORIZATION_FAILED.
func handleDescribeTopicPartitions(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeTopicPartitionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTopicPartitionsResponse)
	limit := int(req.ResponsePartitionLimit)
	if limit <= 0 || limit > defaultPartitionLimit {
		limit = defaultPartitionLimit
	}
	names := make([]string, 0, len(req.Topics))
	for _, rt := range req.Topics {
		names = append(names, rt.Topic)
	}
	if len(req.Topics) == 0 {
		// Every topic the principal may describe; the others are
		// hidden, as Metadata hides them.
		var all []string
		for _, t := range s.b.Topics() {
			all = append(all, t.Name)
		}
		ok := s.allowedNames(r, access.Describe, access.Topic, all)
		for i, n := range all {
			if ok[i] {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	from := int32(0)
	if c := req.Cursor; c != nil {
		i, _ := slices.BinarySearch(names, c.Topic)
		names, from = names[i:], max(c.Partition, 0)
	}
	for _, name := range names {
		if limit == 0 {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: from}
			break
		}
		ot := kmsg.NewDescribeTopicPartitionsResponseTopic()
		ot.Topic = &name
		if denied := s.access(r, access.Describe, access.Topic, name); denied != nil {
			ot.ErrorCode = denied.Code
			resp.Topics = append(resp.Topics, ot)
			from = 0
			continue
		}
		t := s.b.Topic(name)
		if t == nil {
			ot.ErrorCode = kerr.UnknownTopicOrPartition.Code
			resp.Topics = append(resp.Topics, ot)
			from = 0
			continue
		}
		ot.TopicID, ot.IsInternal = t.ID, broker.IsInternal(name)
		ot.AuthorizedOperations = s.authorizedOps(r, true, access.Topic, name)
		parts := t.Partitions()
		replicas := []int32{s.cfg.NodeID}
		for i := from; int(i) < len(parts); i++ {
			if limit == 0 {
				resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: i}
				break
			}
			op := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
			op.Partition, op.LeaderID, op.LeaderEpoch = i, s.cfg.NodeID, 0
			op.Replicas, op.ISR = replicas, replicas
			op.EligibleLeaderReplicas, op.LastKnownELR, op.OfflineReplicas = []int32{}, []int32{}, []int32{}
			ot.Partitions = append(ot.Partitions, op)
			limit--
		}
		resp.Topics = append(resp.Topics, ot)
		from = 0
		if resp.NextCursor != nil {
			break
		}
	}
	return resp, nil
}

func strPtr(s string) *string { return &s }
