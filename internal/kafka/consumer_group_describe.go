package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/group"
)

// handleConsumerGroupDescribe describes KIP-848 groups: epochs, members,
// their current and target assignments. A group r may not DESCRIBE
// answers GROUP_AUTHORIZATION_FAILED, and one with a member subscribed to
// or assigned a topic r may not DESCRIBE TOPIC_AUTHORIZATION_FAILED,
// without its members, as Kafka 4 answers.
func handleConsumerGroupDescribe(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ConsumerGroupDescribeRequest)
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	groups, include := req.Groups, req.IncludeAuthorizedOperations
	r.later(func() kmsg.Response {
		for _, id := range groups {
			g := kmsg.NewConsumerGroupDescribeResponseGroup()
			g.Group = id
			if denied := s.access(r, access.Describe, access.Group, id); denied != nil {
				g.ErrorCode = denied.Code
				resp.Groups = append(resp.Groups, g)
				continue
			}
			g.AuthorizedOperations = s.authorizedOps(r, include, access.Group, id)
			if s.groups == nil {
				g.ErrorCode = kerr.CoordinatorNotAvailable.Code
				resp.Groups = append(resp.Groups, g)
				continue
			}
			d, err := s.groups.DescribeConsumer(id)
			g.ErrorCode = errCode(err)
			if err == kerr.GroupIDNotFound {
				g.ErrorMessage = kmsg.StringPtr("Group " + id + " is not a consumer group.")
			}
			if err == nil && !s.groupTopicsAllowed(r, d) {
				g.ErrorCode = kerr.TopicAuthorizationFailed.Code
				g.ErrorMessage = kmsg.StringPtr("The group has described topic(s) that the client is not authorized to describe.")
				g.AuthorizedOperations = opsNotAsked
				err = kerr.TopicAuthorizationFailed
			}
			if err == nil {
				g.State, g.Epoch, g.AssignmentEpoch, g.AssignorName = d.State, d.Epoch, d.AssignmentEpoch, "uniform"
				for _, m := range d.Members {
					rm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
					rm.MemberID, rm.MemberEpoch, rm.ClientID, rm.ClientHost = m.ID, m.Epoch, m.ClientID, m.ClientHost
					rm.SubscribedTopics = m.Subscribed
					if m.SubscribedRegex != "" {
						rm.SubscribedTopicRegex = kmsg.StringPtr(m.SubscribedRegex)
					}
					if m.InstanceID != "" {
						rm.InstanceID = kmsg.StringPtr(m.InstanceID)
					}
					if m.RackID != "" {
						rm.RackID = kmsg.StringPtr(m.RackID)
					}
					rm.Assignment = toAssignment(m.Assigned)
					rm.TargetAssignment = toAssignment(m.Target)
					rm.MemberType = 1 // consumer protocol
					g.Members = append(g.Members, rm)
				}
			}
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	})
	return nil, nil
}

// groupTopicsAllowed reports whether r may DESCRIBE every topic the
// group's members subscribe to by name or are assigned (now or as a
// target), decided in one batch.
func (s *Server) groupTopicsAllowed(r *request, d group.CDescription) bool {
	var names []string
	seen := map[string]bool{}
	add := func(name string) {
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	for _, m := range d.Members {
		for _, n := range m.Subscribed {
			add(n)
		}
		for _, tps := range [][]group.TopicPartitions{m.Assigned, m.Target} {
			for _, tp := range tps {
				if t := s.b.TopicByID(tp.TopicID); t != nil {
					add(t.Name)
				}
			}
		}
	}
	if len(names) == 0 {
		return true
	}
	for _, ok := range s.allowedNames(r, access.Describe, access.Topic, names) {
		if !ok {
			return false
		}
	}
	return true
}

func toAssignment(tps []group.TopicPartitions) kmsg.Assignment {
	a := kmsg.NewAssignment()
	for _, t := range tps {
		at := kmsg.NewAssignmentTopicPartition()
		at.TopicID, at.Partitions = t.TopicID, t.Partitions
		a.TopicPartitions = append(a.TopicPartitions, at)
	}
	return a
}
