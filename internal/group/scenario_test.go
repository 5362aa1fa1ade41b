package group

import (
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/heraldhq/herald/internal/testenv"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/*.txt")

// TestScenarios runs the scenario files in testdata: each block is a
// command, a "----" line and the expected output, ended by a blank line.
// Run with -rewrite to regenerate the expected output.
//
// Commands (times are Go durations; members are named by their ids):
//
//	join [client=c] [member=id] [instance=i] [protocols=range:meta,roundrobin] [type=consumer]
//	     [session=10s] [rebalance=10s] [v4=true]
//	sync member=id gen=N [assign=id:bytes,id:bytes] [ptype=t] [proto=p]
//	heartbeat member=id gen=N [instance=i]
//	leave [member=id] [instance=i]
//	commit [member=id] [gen=N]
//	tick 10s
//	delete
//	describe
func TestScenarios(t *testing.T) {
	testenv.Scenarios(t, "testdata/*.txt", *rewrite, func(t *testing.T) func(cmd string) string {
		h := &harness{g: New("g", Config{}), now: time.Unix(1000, 0), names: map[Token]string{}}
		return func(cmd string) string { return h.run(t, cmd) }
	})
}

type harness struct {
	g     *Group
	now   time.Time
	tok   Token
	names map[Token]string
}

func (h *harness) token(name string) Token {
	h.tok++
	h.names[h.tok] = name
	return h.tok
}

func args(fields []string) map[string]string {
	m := map[string]string{}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		m[k] = v
	}
	return m
}

func dur(s, def string) time.Duration {
	if s == "" {
		s = def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}

func (h *harness) run(t *testing.T, cmd string) string {
	f := strings.Fields(cmd)
	a := args(f[1:])
	var ev any
	switch f[0] {
	case "join":
		j := Join{ClientID: a["client"], MemberID: a["member"], InstanceID: a["instance"], ProtocolType: "consumer",
			Session: dur(a["session"], "10s"), Rebalance: dur(a["rebalance"], "10s"), RequireKnownMemberID: a["v4"] == "true"}
		if v, ok := a["type"]; ok {
			j.ProtocolType = v
		}
		protos, ok := a["protocols"]
		if !ok {
			protos = "range"
		}
		for _, p := range strings.Split(protos, ",") {
			if p == "" {
				continue
			}
			name, meta, _ := strings.Cut(p, ":")
			j.Protocols = append(j.Protocols, Protocol{Name: name, Metadata: []byte(meta)})
		}
		who := j.MemberID
		if who == "" {
			who = "client " + j.ClientID
		}
		j.Token = h.token("join(" + who + ")")
		ev = j
	case "sync":
		gen, _ := strconv.Atoi(a["gen"])
		s := Sync{MemberID: a["member"], InstanceID: a["instance"], Generation: int32(gen), ProtocolType: a["ptype"], Protocol: a["proto"]}
		if as := a["assign"]; as != "" {
			s.Assignments = map[string][]byte{}
			for _, x := range strings.Split(as, ",") {
				id, v, _ := strings.Cut(x, ":")
				s.Assignments[id] = []byte(v)
			}
		}
		s.Token = h.token("sync(" + s.MemberID + ")")
		ev = s
	case "heartbeat":
		gen, _ := strconv.Atoi(a["gen"])
		ev = Heartbeat{Token: h.token("heartbeat(" + a["member"] + ")"), MemberID: a["member"], InstanceID: a["instance"], Generation: int32(gen)}
	case "leave":
		ev = Leave{Token: h.token("leave(" + a["member"] + a["instance"] + ")"), MemberID: a["member"], InstanceID: a["instance"]}
	case "commit":
		gen := -1
		if g, ok := a["gen"]; ok {
			gen, _ = strconv.Atoi(g)
		}
		ev = CommitCheck{Token: h.token("commit(" + a["member"] + ")"), MemberID: a["member"], Generation: int32(gen)}
	case "tick":
		h.now = h.now.Add(dur(f[1], ""))
		ev = Tick{}
	case "delete":
		ev = Delete{Token: h.token("delete")}
	case "describe":
		return h.describe()
	default:
		t.Fatalf("unknown command %q", cmd)
	}
	before := h.g.State()
	var lines []string
	for _, e := range h.g.Step(h.now, ev) {
		lines = append(lines, h.effect(e))
	}
	if after := h.g.State(); after != before {
		lines = append(lines, fmt.Sprintf("state %s -> %s (generation %d)", before, after, h.g.Generation()))
	}
	if len(lines) == 0 {
		return "(nothing)"
	}
	return strings.Join(lines, "\n")
}

func (h *harness) effect(e any) string {
	switch e := e.(type) {
	case Reply:
		name := h.names[e.Token]
		switch r := e.Resp.(type) {
		case JoinResult:
			if r.Err != nil {
				s := fmt.Sprintf("reply %s: %s", name, errString(r.Err))
				if r.MemberID != "" && r.Err == kerr.MemberIDRequired {
					s += " member=" + r.MemberID
				}
				return s
			}
			s := fmt.Sprintf("reply %s: member=%s gen=%d protocol=%s leader=%s", name, r.MemberID, r.Generation, r.Protocol, r.Leader)
			if len(r.Members) > 0 {
				var ms []string
				for _, m := range r.Members {
					ms = append(ms, m.MemberID+":"+string(m.Metadata))
				}
				s += " members=[" + strings.Join(ms, " ") + "]"
			}
			return s
		case SyncResult:
			if r.Err != nil {
				return fmt.Sprintf("reply %s: %s", name, errString(r.Err))
			}
			return fmt.Sprintf("reply %s: assignment=%q", name, r.Assignment)
		case *kerr.Error:
			return fmt.Sprintf("reply %s: %s", name, errString(r))
		case nil:
			return fmt.Sprintf("reply %s: NONE", name)
		}
		return fmt.Sprintf("reply %s: %v", name, e.Resp)
	case Persist:
		if e.Meta == nil {
			return "persist tombstone"
		}
		return fmt.Sprintf("persist generation=%d protocol=%q members=%d", e.Meta.Generation, e.Meta.Protocol, len(e.Meta.Members))
	}
	return fmt.Sprintf("%T", e)
}

func (h *harness) describe() string {
	d := h.g.Describe()
	var b strings.Builder
	fmt.Fprintf(&b, "state=%s generation=%d protocol=%s leader=%s", d.State, d.Generation, d.Protocol, d.Leader)
	ids := make([]string, 0, len(d.Members))
	for _, m := range d.Members {
		s := "\n  " + m.ID
		if m.InstanceID != "" {
			s += " instance=" + m.InstanceID
		}
		s += fmt.Sprintf(" assignment=%q", m.Assignment)
		ids = append(ids, s)
	}
	slices.Sort(ids)
	b.WriteString(strings.Join(ids, ""))
	return b.String()
}
