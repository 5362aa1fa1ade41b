package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/group"
)

// handleAddPartitionsToTxn adds partitions to a transaction: v0-3 one
// transaction from a producer; v4 (KIP-890) a batch of transactions, the
// form brokers use. VerifyOnly (v4) checks without adding.
//
// Access, as Kafka: v0-3 need WRITE on the transactional id (else every
// partition answers TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and on each
// topic (a denied topic's partitions answer TOPIC_AUTHORIZATION_FAILED,
// the others OPERATION_NOT_ATTEMPTED, and nothing is added); v4, a
// broker's request, needs CLUSTER_ACTION on the cluster.
func handleAddPartitionsToTxn(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	fenced := fencedErr(r.version, 2)
	if r.version < 4 {
		tps := requestPartitions(req.Topics)
		id, pid, epoch := req.TransactionalID, req.ProducerID, req.ProducerEpoch
		denied := s.addPartitionsAccess(r, req)
		r.later(func() kmsg.Response {
			errs := denied
			if errs == nil {
				errs = s.addPartitions(id, pid, epoch, false, tps, fenced)
			}
			for _, t := range req.Topics {
				rt := kmsg.NewAddPartitionsToTxnResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
					rp.Partition, rp.ErrorCode = p, errs[group.TopicPartition{Topic: t.Topic, Partition: p}]
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
			return resp
		})
		return nil, nil
	}
	if denied := s.accessCluster(r, access.ClusterAction); denied != nil {
		resp.ErrorCode = denied.Code
		return resp, nil
	}
	r.later(func() kmsg.Response {
		for _, tx := range req.Transactions {
			var tps []group.TopicPartition
			for _, t := range tx.Topics {
				for _, p := range t.Partitions {
					tps = append(tps, group.TopicPartition{Topic: t.Topic, Partition: p})
				}
			}
			errs := s.addPartitions(tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly, tps, fenced)
			rtx := kmsg.NewAddPartitionsToTxnResponseTransaction()
			rtx.TransactionalID = tx.TransactionalID
			for _, t := range tx.Topics {
				rt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
					rp.Partition, rp.ErrorCode = p, errs[group.TopicPartition{Topic: t.Topic, Partition: p}]
					rt.Partitions = append(rt.Partitions, rp)
				}
				rtx.Topics = append(rtx.Topics, rt)
			}
			resp.Transactions = append(resp.Transactions, rtx)
		}
		return resp
	})
	return nil, nil
}

// addPartitionsAccess answers every partition of a v0-3 request
// that is denied (see handleAddPartitionsToTxn), or nil when all are
// allowed.
func (s *Server) addPartitionsAccess(r *request, req *kmsg.AddPartitionsToTxnRequest) map[group.TopicPartition]int16 {
	all := func(code func(topic string) int16) map[group.TopicPartition]int16 {
		out := map[group.TopicPartition]int16{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				out[group.TopicPartition{Topic: t.Topic, Partition: p}] = code(t.Topic)
			}
		}
		return out
	}
	if denied := s.access(r, access.Write, access.TransactionalID, req.TransactionalID); denied != nil {
		return all(func(string) int16 { return denied.Code })
	}
	deniedTopics := map[string]bool{}
	for _, t := range req.Topics {
		if s.access(r, access.Write, access.Topic, t.Topic) != nil {
			deniedTopics[t.Topic] = true
		}
	}
	if len(deniedTopics) == 0 {
		return nil
	}
	return all(func(topic string) int16 {
		if deniedTopics[topic] {
			return kerr.TopicAuthorizationFailed.Code
		}
		return kerr.OperationNotAttempted.Code
	})
}

func requestPartitions(ts []kmsg.AddPartitionsToTxnRequestTopic) []group.TopicPartition {
	var tps []group.TopicPartition
	for _, t := range ts {
		for _, p := range t.Partitions {
			tps = append(tps, group.TopicPartition{Topic: t.Topic, Partition: p})
		}
	}
	return tps
}

// addPartitions returns the error code of each partition.
func (s *Server) addPartitions(id string, pid int64, epoch int16, verifyOnly bool, tps []group.TopicPartition, fenced *kerr.Error) map[group.TopicPartition]int16 {
	out := make(map[group.TopicPartition]int16, len(tps))
	all := func(err *kerr.Error) map[group.TopicPartition]int16 {
		for _, tp := range tps {
			out[tp] = err.Code
		}
		return out
	}
	if s.txn == nil {
		return all(kerr.CoordinatorNotAvailable)
	}
	if verifyOnly {
		for _, tp := range tps {
			out[tp] = errCode(s.txn.Verify(id, pid, epoch, tp))
		}
		return out
	}
	per, err := s.txn.AddPartitions(id, pid, epoch, tps, fenced)
	if err != nil {
		return all(err)
	}
	for _, tp := range tps {
		out[tp] = errCode(per[tp])
	}
	return out
}
