package kafka

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/access"
	"github.com/heraldhq/herald/internal/group"
)

// handleJoinGroup joins a member to a classic group. The answer waits for
// the join phase to end, so it completes later: the connection keeps
// reading, and other members' requests arrive meanwhile. It needs READ on
// the group, as do SyncGroup, Heartbeat and LeaveGroup.
func handleJoinGroup(s *Server, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.JoinGroupRequest)
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	if denied := s.access(r, access.Read, access.Group, req.Group); denied != nil {
		resp.ErrorCode, resp.Generation = denied.Code, -1
		return resp, nil
	}
	if s.groups == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	j := group.Join{
		MemberID: req.MemberID, InstanceID: deref(req.InstanceID),
		ClientID: r.clientID, ClientHost: hostOf(r.c.remote),
		ProtocolType: req.ProtocolType,
		Session:      time.Duration(req.SessionTimeoutMillis) * time.Millisecond,
		Rebalance:    time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond,
		// Kafka requires a known member id from v4 on, for dynamic
		// members only.
		RequireKnownMemberID: r.version >= 4,
	}
	if r.version == 0 {
		j.Rebalance = j.Session
	}
	for _, p := range req.Protocols {
		j.Protocols = append(j.Protocols, group.Protocol{Name: p.Name, Metadata: append([]byte(nil), p.Metadata...)})
	}
	groupID, version := req.Group, r.version
	r.afterCommits(func() kmsg.Response {
		res := s.groups.Join(groupID, j)
		fillJoin(resp, res, version)
		return resp
	})
	return nil, nil
}

func fillJoin(resp *kmsg.JoinGroupResponse, res group.JoinResult, version int16) {
	resp.ErrorCode = errCode(res.Err)
	resp.Generation, resp.MemberID, resp.LeaderID = res.Generation, res.MemberID, res.Leader
	if res.Err != nil {
		return
	}
	resp.Protocol = kmsg.StringPtr(res.Protocol)
	if version >= 7 {
		resp.ProtocolType = kmsg.StringPtr(res.ProtocolType)
	}
	for _, m := range res.Members {
		rm := kmsg.NewJoinGroupResponseMember()
		rm.MemberID, rm.ProtocolMetadata = m.MemberID, m.Metadata
		if m.InstanceID != "" {
			rm.InstanceID = kmsg.StringPtr(m.InstanceID)
		}
		resp.Members = append(resp.Members, rm)
	}
}

func errCode(err *kerr.Error) int16 {
	if err == nil {
		return 0
	}
	return err.Code
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// hostOf is the client host Kafka reports: "/" and the address.
func hostOf(remote string) string {
	for i := len(remote) - 1; i >= 0; i-- {
		if remote[i] == ':' {
			return "/" + remote[:i]
		}
	}
	return "/" + remote
}
