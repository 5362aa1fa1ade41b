package stream

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// setup finds the partition count of every subtopology, checks that the
// source topics of each are co-partitioned, and creates the internal
// topics that are missing (repartition topics, compacted changelogs).
func (a *App) setup(ctx context.Context) error {
	a.mu.Lock() // interactive queries read parts
	a.parts = make([]int32, len(a.subs))
	a.mu.Unlock()
	user := a.userTopics()
	td, err := a.adm.ListTopics(ctx, user...)
	if err != nil {
		return fmt.Errorf("stream: list topics: %w", err)
	}
	// Repartition topics take the partition count of the subtopology that
	// writes them, which may itself read a repartition topic: resolve in
	// rounds until every subtopology is known.
	for range len(a.subs) + 1 {
		progress, err := a.resolveParts(ctx, td)
		if err != nil {
			return err
		}
		if !progress {
			break
		}
	}
	for i, n := range a.parts {
		if n == 0 {
			return fmt.Errorf("stream: sub-topology %d: cannot find its partition count", i)
		}
	}
	return a.createChangelogs(ctx)
}

func (a *App) userTopics() []string {
	var out []string
	for tp, sd := range a.t.sources {
		if !sd.internal {
			out = append(out, tp)
		}
	}
	sort.Strings(out)
	return out
}

// resolveParts sets the partition count of each subtopology whose sources
// are known, creating repartition topics whose writer is known. It
// reports whether it learned anything.
func (a *App) resolveParts(ctx context.Context, td kadm.TopicDetails) (bool, error) {
	progress := false
	for i, g := range a.subs {
		if a.parts[i] != 0 {
			continue
		}
		counts := map[string]int32{}
		for _, tp := range g {
			n, ok, err := a.sourcePartitions(ctx, td, tp)
			if err != nil {
				return false, err
			}
			if !ok {
				counts = nil
				break
			}
			counts[tp] = n
		}
		if counts == nil {
			continue
		}
		n, err := coPartitioned(i, counts)
		if err != nil {
			return false, err
		}
		a.mu.Lock()
		a.parts[i], progress = n, true
		a.mu.Unlock()
	}
	return progress, nil
}

// sourcePartitions returns a source topic's partition count; for a
// repartition topic whose writer's count is not known yet, ok is false.
func (a *App) sourcePartitions(ctx context.Context, td kadm.TopicDetails, tp string) (int32, bool, error) {
	sd := a.t.sources[tp]
	if !sd.internal {
		d, ok := td[tp]
		if !ok {
			return 0, false, fmt.Errorf("stream: source topic %q does not exist (create it before starting)", tp)
		}
		if d.Err != nil {
			return 0, false, fmt.Errorf("stream: source topic %q (create it before starting): %w", tp, d.Err)
		}
		return int32(len(d.Partitions)), true, nil
	}
	up := a.subOf[a.t.physical(a.cfg.AppID, sd.upstream.topics[0])]
	if a.parts[up] == 0 {
		return 0, false, nil
	}
	n := a.parts[up]
	return n, true, a.ensureTopic(ctx, a.t.physical(a.cfg.AppID, tp), n, nil)
}

// coPartitioned checks that the topics of one subtopology have one
// partition count, and returns it.
func coPartitioned(sub int, counts map[string]int32) (int32, error) {
	var n int32
	for _, c := range counts {
		n = max(n, c)
	}
	for _, c := range counts {
		if c != n {
			var desc []string
			for tp, c := range counts {
				desc = append(desc, fmt.Sprintf("%s has %d", tp, c))
			}
			sort.Strings(desc)
			return 0, fmt.Errorf("stream: sub-topology %d reads topics that are not co-partitioned (%s partitions): records with one key would meet in different tasks; give them the same partition count, or repartition one", sub, strings.Join(desc, ", "))
		}
	}
	return n, nil
}

func (a *App) createChangelogs(ctx context.Context) error {
	for name, sd := range a.t.stores {
		sub := a.subOf[a.t.physical(a.cfg.AppID, sd.node.topics[0])]
		configs := map[string]*string{"cleanup.policy": new("compact")}
		if sd.retention > 0 {
			configs["cleanup.policy"] = new("compact,delete")
			configs["retention.ms"] = new(fmt.Sprint(sd.retention))
		}
		if err := a.ensureTopic(ctx, changelogTopic(a.cfg.AppID, name), a.parts[sub], configs); err != nil {
			return err
		}
	}
	return nil
}

// ensureTopic creates an internal topic, or checks the partition count of
// the one that exists.
func (a *App) ensureTopic(ctx context.Context, topic string, parts int32, configs map[string]*string) error {
	var resp kadm.CreateTopicResponse
	var err error
	// A retriable answer (NOT_CONTROLLER while a cluster's controller
	// moves, a broker restarting) is asked again, for up to 10s.
	for wait, deadline := 50*time.Millisecond, time.Now().Add(10*time.Second); ; wait = min(2*wait, time.Second) {
		resp, err = a.adm.CreateTopic(ctx, parts, a.cfg.InternalReplicationFactor, configs, topic)
		if err == nil && resp.Err == nil {
			return nil
		}
		if !kerr.IsRetriable(errorsOr(err, resp.Err)) || time.Now().After(deadline) {
			break
		}
		// NOT_CONTROLLER comes in the topic's answer, which franz-go
		// does not act on: learn the new controller before asking again.
		a.cl.ForceMetadataRefresh()
		select {
		case <-ctx.Done():
			return fmt.Errorf("stream: create %s: %w", topic, ctx.Err())
		case <-time.After(wait):
		}
	}
	d, ok := a.waitTopic(ctx, topic)
	if !ok {
		return fmt.Errorf("stream: create %s: %w", topic, errorsOr(err, resp.Err))
	}
	if got := int32(len(d.Partitions)); got != parts {
		return fmt.Errorf("stream: internal topic %s has %d partitions, the topology needs %d (delete it, or reset the application)", topic, got, parts)
	}
	return nil
}

// waitTopic lists topic until it shows without error, for up to 10s: an
// instance starting beside another may find the topic created by the
// other but not yet in the metadata.
func (a *App) waitTopic(ctx context.Context, topic string) (kadm.TopicDetail, bool) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		td, err := a.adm.ListTopics(ctx, topic)
		if d, ok := td[topic]; err == nil && ok && d.Err == nil {
			return d, true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return kadm.TopicDetail{}, false
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func errorsOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
