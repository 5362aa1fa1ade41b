package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// groupRow is one group of the groups list.
type groupRow struct {
	Name     string
	State    string
	Protocol string
	Members  int
	Lag      int64
}

func (c *Console) handleGroups(w http.ResponseWriter, r *http.Request) {
	listed, err := c.adm.ListGroups(r.Context())
	if err != nil {
		c.fail(w, r, fmt.Errorf("list groups: %w", err))
		return
	}
	var rows []groupRow
	if names := listed.Groups(); len(names) > 0 {
		lags, err := c.adm.Lag(r.Context(), names...)
		if err != nil {
			c.fail(w, r, fmt.Errorf("group lag: %w", err))
			return
		}
		for _, g := range lags.Sorted() {
			rows = append(rows, groupRow{Name: g.Group, State: g.State, Protocol: g.Protocol, Members: len(g.Members), Lag: g.Lag.Total()})
		}
	}
	c.render(w, http.StatusOK, "groups", "Consumer groups", "groups", rows)
}

// LagRow is one partition of a group's lag, as the group page and its lag
// stream show it.
type LagRow struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Member    string `json:"member,omitempty"`
	Client    string `json:"client,omitempty"`
	Host      string `json:"host,omitempty"`
	Committed int64  `json:"committed"`
	End       int64  `json:"end"`
	Lag       int64  `json:"lag"`
}

// GroupLag is a group's state and lag per partition.
type GroupLag struct {
	Group      string    `json:"group"`
	State      string    `json:"state"`
	Protocol   string    `json:"protocol"`
	Members    []Member  `json:"members"`
	Partitions []LagRow  `json:"partitions"`
	Total      int64     `json:"total"`
	At         time.Time `json:"at"`
}

// Member is a group member and what it is assigned.
type Member struct {
	ID       string   `json:"id"`
	Client   string   `json:"client"`
	Host     string   `json:"host"`
	Assigned []string `json:"assigned"`
}

// groupLag describes group with its lag; an unknown group is notFound.
func (c *Console) groupLag(ctx context.Context, group string) (*GroupLag, error) {
	lags, err := c.adm.Lag(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("group %s: %w", group, err)
	}
	l, ok := lags[group]
	if !ok {
		return nil, notFound("group %q does not exist", group)
	}
	if err := l.Error(); err != nil {
		return nil, kafkaErr("group "+group, err)
	}
	if (l.State == "Dead" || l.State == "") && len(l.Members) == 0 && len(l.Lag) == 0 {
		return nil, notFound("group %q does not exist", group)
	}
	out := &GroupLag{Group: group, State: l.State, Protocol: l.Protocol, Total: l.Lag.Total(), At: time.Now()}
	for _, m := range l.Members {
		mem := Member{ID: m.MemberID, Client: m.ClientID, Host: m.ClientHost}
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				for _, p := range t.Partitions {
					mem.Assigned = append(mem.Assigned, t.Topic+"/"+strconv.Itoa(int(p)))
				}
			}
		}
		out.Members = append(out.Members, mem)
	}
	for _, ml := range l.Lag.Sorted() {
		row := LagRow{Topic: ml.Topic, Partition: ml.Partition, Committed: ml.Commit.At, End: ml.End.Offset, Lag: ml.Lag}
		if ml.Member != nil {
			row.Member, row.Client, row.Host = ml.Member.MemberID, ml.Member.ClientID, ml.Member.ClientHost
		}
		out.Partitions = append(out.Partitions, row)
	}
	return out, nil
}

// groupPage is the group page's data: the lag, and a reset preview.
type groupPage struct {
	Lag     *GroupLag
	Topics  []string
	Reset   *resetPlan
	Applied bool
	Error   string
	// LagChart is the group's total lag over the sampled history.
	LagChart Spark
}

func (c *Console) handleGroup(w http.ResponseWriter, r *http.Request) {
	gl, err := c.groupLag(r.Context(), r.PathValue("group"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, http.StatusOK, "group", "Group "+gl.Group, "groups", groupPage{Lag: gl, Topics: lagTopics(gl), LagChart: c.lagChart(gl.Group)})
}

func lagTopics(gl *GroupLag) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range gl.Partitions {
		if !seen[p.Topic] {
			seen[p.Topic] = true
			out = append(out, p.Topic)
		}
	}
	sort.Strings(out)
	return out
}

// resetPlan is an offset reset: each partition's current and new offset.
type resetPlan struct {
	Topic    string
	Strategy string
	Value    string
	Rows     []resetRow
}

type resetRow struct {
	Partition int32
	Current   int64
	New       int64
}

// handleResetOffsets previews (dry_run) or applies an offset reset. Applying
// needs the group to have no members, as Kafka's tools do.
func (c *Console) handleResetOffsets(w http.ResponseWriter, r *http.Request) {
	if err := c.checkForm(r); err != nil {
		c.fail(w, r, err)
		return
	}
	gl, err := c.groupLag(r.Context(), r.PathValue("group"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	gp := groupPage{Lag: gl, Topics: lagTopics(gl), LagChart: c.lagChart(gl.Group)}
	plan, err := c.planReset(r.Context(), gl, r.PostForm.Get("topic"), r.PostForm.Get("strategy"), r.PostForm.Get("value"))
	status := http.StatusOK
	switch {
	case err != nil:
		status, gp.Error = statusOf(err), err.Error()
	case r.PostForm.Get("apply") == "":
		gp.Reset = plan
	default:
		gp.Reset = plan
		if err := c.applyReset(r.Context(), gl, plan); err != nil {
			status, gp.Error = statusOf(err), err.Error()
			break
		}
		gp.Applied = true
		if gl, err = c.groupLag(r.Context(), gl.Group); err == nil {
			gp.Lag = gl
		}
	}
	c.render(w, status, "group", "Group "+gp.Lag.Group, "groups", gp)
}

// planReset computes the new offsets of topic's partitions.
func (c *Console) planReset(ctx context.Context, gl *GroupLag, topic, strategy, value string) (*resetPlan, error) {
	if topic == "" {
		return nil, badRequest("choose a topic to reset")
	}
	plan := &resetPlan{Topic: topic, Strategy: strategy, Value: value}
	var listed kadm.ListedOffsets
	var err error
	var to int64
	switch strategy {
	case "earliest":
		listed, err = c.adm.ListStartOffsets(ctx, topic)
	case "latest":
		listed, err = c.adm.ListEndOffsets(ctx, topic)
	case "offset":
		if to, err = strconv.ParseInt(value, 10, 64); err != nil || to < 0 {
			return nil, badRequest("offset %q: want an offset (0 or more)", value)
		}
		listed, err = c.adm.ListEndOffsets(ctx, topic)
	case "time":
		t, perr := parseTime(value)
		if perr != nil {
			return nil, perr
		}
		listed, err = c.adm.ListOffsetsAfterMilli(ctx, t.UnixMilli(), topic)
	default:
		return nil, badRequest("strategy %q: want earliest, latest, offset or time", strategy)
	}
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	current := map[int32]int64{}
	for _, p := range gl.Partitions {
		if p.Topic == topic {
			current[p.Partition] = p.Committed
		}
	}
	listed.Each(func(o kadm.ListedOffset) {
		if o.Topic != topic || o.Err != nil {
			return
		}
		n := o.Offset
		if strategy == "offset" {
			n = min(to, o.Offset)
		}
		cur, ok := current[o.Partition]
		if !ok {
			cur = -1
		}
		plan.Rows = append(plan.Rows, resetRow{Partition: o.Partition, Current: cur, New: n})
	})
	if len(plan.Rows) == 0 {
		return nil, notFound("topic %q does not exist", topic)
	}
	sort.Slice(plan.Rows, func(i, j int) bool { return plan.Rows[i].Partition < plan.Rows[j].Partition })
	return plan, nil
}

// applyReset commits plan's offsets for an empty group.
func (c *Console) applyReset(ctx context.Context, gl *GroupLag, plan *resetPlan) error {
	if len(gl.Members) > 0 {
		return &pageError{http.StatusConflict, fmt.Sprintf("group %q has %d active members: stop its consumers before resetting offsets (the preview is below)", gl.Group, len(gl.Members))}
	}
	var os kadm.Offsets
	for _, row := range plan.Rows {
		os.AddOffset(plan.Topic, row.Partition, row.New, -1)
	}
	resp, err := c.adm.CommitOffsets(ctx, gl.Group, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return kafkaErr("commit offsets", err)
	}
	return nil
}

// handleLagEvents streams the group's lag as Server-Sent Events (event
// "lag", data GroupLag) every LagInterval until the client leaves.
func (c *Console) handleLagEvents(w http.ResponseWriter, r *http.Request) {
	group := r.PathValue("group")
	gl, err := c.groupLag(r.Context(), group)
	if err != nil {
		apiError(w, err)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		apiError(w, fmt.Errorf("streaming is not supported by this server"))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	tick := time.NewTicker(c.cfg.LagInterval)
	defer tick.Stop()
	for {
		if gl != nil {
			b, _ := json.Marshal(gl) // plain data always marshals
			if _, err := fmt.Fprintf(w, "event: lag\ndata: %s\n\n", b); err != nil {
				return
			}
			fl.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
		gl, _ = c.groupLag(r.Context(), group) // a failed poll sends nothing this tick
	}
}
