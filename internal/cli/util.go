package cli

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

// checkTopics returns an error naming the first topic the cluster does
// not have. Commands check up front so that a typo fails at once with a
// clear message instead of after the client's retries.
func checkTopics(ctx context.Context, adm *kadm.Client, topics ...string) error {
	tds, err := adm.ListTopicsWithInternal(ctx, topics...)
	if err != nil {
		return fmt.Errorf("look up topics: %w", err)
	}
	for _, t := range topics {
		td, ok := tds[t]
		if !ok || td.Err != nil {
			return unknownTopic(t, td.Err)
		}
	}
	return nil
}

// timeLayouts are the layouts parseTime accepts besides unix milliseconds.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"}

// parseTime parses an RFC 3339 time ("2024-05-01T12:00:00Z"), a local
// date and time without zone ("2024-05-01T12:00:00", read as UTC), a date
// ("2024-05-01", midnight UTC), or unix milliseconds ("1714564800000").
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms < 0 {
			return time.Time{}, fmt.Errorf("invalid time %q: negative milliseconds", s)
		}
		return time.UnixMilli(ms), nil
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid time %q: want RFC 3339 (2024-05-01T12:00:00Z), a date (2024-05-01) or unix milliseconds", s)
}

func sortStrings(s []string) { sort.Strings(s) }

// recordHeader is a header in JSON input and output.
type recordHeader struct {
	Key   string `json:"key" yaml:"key"`
	Value string `json:"value" yaml:"value"`
}

// plural is "1 record" or "n records": n and the word, with an s unless
// n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// topicInfo is what produce needs to know of a topic before sending.
type topicInfo struct {
	partitions      int32
	maxMessageBytes int32 // the topic's max.message.bytes
}

func (ti topicInfo) partitionRange(topic string) string {
	return fmt.Sprintf("topic %s has partitions 0 to %d", topic, ti.partitions-1)
}

// defaultMaxMessageBytes is Kafka's default max.message.bytes, for a
// cluster that does not report the topic's.
const defaultMaxMessageBytes = 1048588

// topicLimits checks that topic exists and returns its partition count
// and max.message.bytes.
func (c *conn) topicLimits(cmd *cobra.Command, topic string) (topicInfo, error) {
	adm, err := c.admin(cmd)
	if err != nil {
		return topicInfo{}, err
	}
	defer adm.Close()
	ctx := cmd.Context()
	if err := checkTopics(ctx, adm, topic); err != nil {
		return topicInfo{}, err
	}
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return topicInfo{}, fmt.Errorf("look up topic %s: %w", topic, err)
	}
	ti := topicInfo{partitions: int32(len(tds[topic].Partitions)), maxMessageBytes: defaultMaxMessageBytes}
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return ti, nil // the default limit; the broker still enforces its own
	}
	for _, rc := range rcs {
		for _, cf := range rc.Configs {
			if cf.Key != "max.message.bytes" || cf.Value == nil {
				continue
			}
			if n, err := strconv.ParseInt(*cf.Value, 10, 32); err == nil && n > 0 {
				ti.maxMessageBytes = int32(n)
			}
		}
	}
	return ti, nil
}
