package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// topicRow is one topic of the topics list.
type topicRow struct {
	Name       string
	Partitions int
	Records    int64 // end offsets minus start offsets, summed
	Internal   bool
}

// brokerRow is one broker of the overview.
type brokerRow struct {
	NodeID int32
	Host   string
	Port   int32
	Rack   string
}

// overview is the overview page's data.
type overview struct {
	ClusterID  string
	Controller int32
	Brokers    []brokerRow
	Topics     []topicRow
	// Sparklines of the sampled history (history.go).
	Records, Fsync Spark
	FsyncOn        bool
	IntervalMs     int64
}

func (c *Console) handleOverview(w http.ResponseWriter, r *http.Request) {
	md, err := c.adm.Metadata(r.Context())
	if err != nil {
		c.fail(w, r, fmt.Errorf("cluster metadata: %w", err))
		return
	}
	ov := overview{ClusterID: md.Cluster, Controller: md.Controller}
	for _, b := range md.Brokers {
		ov.Brokers = append(ov.Brokers, brokerRow{NodeID: b.NodeID, Host: b.Host, Port: b.Port, Rack: deref(b.Rack)})
	}
	ov.Topics, err = c.topicRows(r.Context(), md.Topics)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	h := c.history()
	ov.Records, ov.Fsync = spark(h.Records, sparkW, sparkH, fmtRate), spark(h.FsyncMs, sparkW, sparkH, fmtMs)
	ov.FsyncOn, ov.IntervalMs = h.Fsync, h.IntervalMs
	c.render(w, http.StatusOK, "overview", "Overview", "overview", ov)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// topicRows lists the topics of td with their record counts.
func (c *Console) topicRows(ctx context.Context, td kadm.TopicDetails) ([]topicRow, error) {
	names := td.Names()
	starts, err := c.adm.ListStartOffsets(ctx, names...)
	if err != nil && len(names) > 0 {
		return nil, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := c.adm.ListEndOffsets(ctx, names...)
	if err != nil && len(names) > 0 {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	var rows []topicRow
	for _, t := range td.Sorted() {
		if t.Err != nil {
			continue
		}
		row := topicRow{Name: t.Topic, Partitions: len(t.Partitions), Internal: t.IsInternal}
		for p := range t.Partitions {
			s, _ := starts.Lookup(t.Topic, p)
			e, _ := ends.Lookup(t.Topic, p)
			row.Records += max(e.Offset-s.Offset, 0)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func (c *Console) handleTopics(w http.ResponseWriter, r *http.Request) {
	td, err := c.adm.ListTopicsWithInternal(r.Context())
	if err != nil {
		c.fail(w, r, fmt.Errorf("list topics: %w", err))
		return
	}
	rows, err := c.topicRows(r.Context(), td)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, http.StatusOK, "topics", "Topics", "topics", rows)
}

// handleCreateTopic creates the topic the form names.
func (c *Console) handleCreateTopic(w http.ResponseWriter, r *http.Request) {
	if err := c.checkForm(r); err != nil {
		c.fail(w, r, err)
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	parts, err := strconv.ParseInt(r.PostForm.Get("partitions"), 10, 32)
	if err != nil || parts < 1 {
		c.fail(w, r, badRequest("partitions %q: want a whole number of at least 1", r.PostForm.Get("partitions")))
		return
	}
	if name == "" {
		c.fail(w, r, badRequest("topic name is empty"))
		return
	}
	configs, err := parseConfigs(r.PostForm.Get("configs"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	resp, err := c.adm.CreateTopic(r.Context(), int32(parts), -1, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		c.fail(w, r, kafkaErr("create topic "+name, err))
		return
	}
	http.Redirect(w, r, "/topics/"+pathEscape(name), http.StatusSeeOther)
}

// parseConfigs reads "key=value" lines.
func parseConfigs(s string) (map[string]*string, error) {
	out := map[string]*string{}
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, badRequest("config line %d %q: want key=value", i+1, line)
		}
		v = strings.TrimSpace(v)
		out[strings.TrimSpace(k)] = &v
	}
	return out, nil
}

// kafkaErr wraps err, making a client's mistake (a bad name, an existing
// topic, a policy) a 400 rather than a 502.
func kafkaErr(what string, err error) error {
	var ke *kerr.Error
	if errors.As(err, &ke) && !ke.Retriable {
		if errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, kerr.GroupIDNotFound) {
			return notFound("%s: %v", what, err)
		}
		return badRequest("%s: %v", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// partitionRow is one partition of a topic page.
type partitionRow struct {
	Partition int32
	Leader    int32
	Replicas  []int32
	Start     int64
	End       int64
	Size      int64 // -1 when DescribeLogDirs is not answered
}

// configRow is one config of a topic page.
type configRow struct {
	Name, Value, Source string
	Sensitive           bool
}

// topicPage is the topic page's data.
type topicPage struct {
	Name       string
	ID         string
	Internal   bool
	Partitions []partitionRow
	Configs    []configRow
	Size       int64
	SizeKnown  bool
}

// describeTopic gathers a topic's partitions, offsets, sizes and configs;
// an unknown topic is a notFound error.
func (c *Console) describeTopic(ctx context.Context, name string) (*topicPage, error) {
	td, err := c.adm.ListTopicsWithInternal(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("topic metadata: %w", err)
	}
	t, ok := td[name]
	if !ok || errors.Is(t.Err, kerr.UnknownTopicOrPartition) {
		return nil, notFound("topic %q does not exist", name)
	}
	if t.Err != nil {
		return nil, kafkaErr("topic "+name, t.Err)
	}
	tp := &topicPage{Name: name, ID: t.ID.String(), Internal: t.IsInternal}
	starts, err := c.adm.ListStartOffsets(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := c.adm.ListEndOffsets(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	sizes, sizeKnown := c.partitionSizes(ctx, name)
	tp.SizeKnown = sizeKnown
	for _, p := range t.Partitions.Sorted() {
		s, _ := starts.Lookup(name, p.Partition)
		e, _ := ends.Lookup(name, p.Partition)
		size, ok := sizes[p.Partition]
		if !ok {
			size = -1
		}
		tp.Size += max(size, 0)
		tp.Partitions = append(tp.Partitions, partitionRow{
			Partition: p.Partition, Leader: p.Leader, Replicas: p.Replicas,
			Start: s.Offset, End: e.Offset, Size: size,
		})
	}
	tp.Configs = c.topicConfigs(ctx, name)
	return tp, nil
}

// partitionSizes asks DescribeLogDirs for the partitions' sizes on disk;
// a cluster that does not answer it gets no sizes.
func (c *Console) partitionSizes(ctx context.Context, topic string) (map[int32]int64, bool) {
	dirs, err := c.adm.DescribeAllLogDirs(ctx, kadm.TopicsSet{topic: nil})
	if err != nil {
		return nil, false
	}
	out := map[int32]int64{}
	for _, byDir := range dirs {
		for _, d := range byDir {
			if d.Err != nil {
				continue
			}
			for p, lp := range d.Topics[topic] {
				out[p] = max(out[p], lp.Size) // the largest replica
			}
		}
	}
	return out, len(out) > 0
}

// topicConfigs lists a topic's configs; a cluster that does not answer
// gives none.
func (c *Console) topicConfigs(ctx context.Context, topic string) []configRow {
	rcs, err := c.adm.DescribeTopicConfigs(ctx, topic)
	if err != nil || len(rcs) == 0 || rcs[0].Err != nil {
		return nil
	}
	var rows []configRow
	for _, cfg := range rcs[0].Configs {
		v := deref(cfg.Value)
		if cfg.Sensitive {
			v = "(sensitive)"
		}
		rows = append(rows, configRow{Name: cfg.Key, Value: v, Source: cfg.Source.String(), Sensitive: cfg.Sensitive})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return rows
}

func (c *Console) handleTopic(w http.ResponseWriter, r *http.Request) {
	tp, err := c.describeTopic(r.Context(), r.PathValue("topic"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, http.StatusOK, "topic", "Topic "+tp.Name, "topics", tp)
}

// handleDeleteTopic deletes a topic once the form repeats its name.
func (c *Console) handleDeleteTopic(w http.ResponseWriter, r *http.Request) {
	if err := c.checkForm(r); err != nil {
		c.fail(w, r, err)
		return
	}
	name := r.PathValue("topic")
	if r.PostForm.Get("confirm") != name {
		c.fail(w, r, badRequest("to delete topic %q, type its name in the confirmation box", name))
		return
	}
	resp, err := c.adm.DeleteTopic(r.Context(), name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		c.fail(w, r, kafkaErr("delete topic "+name, err))
		return
	}
	http.Redirect(w, r, "/topics", http.StatusSeeOther)
}

// Records is how many offsets the partition holds.
func (p partitionRow) Records() int64 { return max(p.End-p.Start, 0) }
