package cli

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

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
