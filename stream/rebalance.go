package stream

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// onAssigned notes the new tasks; the loop starts them, restoring their
// stores, before it processes records (outside the callback, which must
// not outlast the rebalance timeout).
func (a *App) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	a.view.invalidate()
	a.mu.Lock()
	defer a.mu.Unlock()
	for topic, ps := range assigned {
		if sub, ok := a.subOf[topic]; ok {
			for _, p := range ps {
				a.assigned[taskID{sub, p}] = true
			}
		}
	}
}

// startAssigned starts the assigned tasks not started yet.
func (a *App) startAssigned() error {
	a.mu.Lock()
	var ids []taskID
	for id := range a.assigned {
		ids = append(ids, id)
	}
	clear(a.assigned)
	a.mu.Unlock()
	for _, id := range ids {
		if _, err := a.taskFor(a.t.physical(a.cfg.AppID, a.subs[id.sub][0]), id.partition); err != nil {
			return err
		}
	}
	return nil
}

// onRevoked commits everything processed (so the next owner starts where
// this one stopped, with the changelog complete), then closes the tasks
// whose partitions go. BlockRebalanceOnPoll keeps it from running while
// the loop processes.
func (a *App) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	a.view.invalidate()
	if len(revoked) == 0 {
		return
	}
	if a.sess == nil {
		// Nothing is uncommitted (rebalances wait for a commit), but a
		// commit here is cheap and keeps that true if the loop changes.
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := a.commit(cctx); err != nil {
			a.log.Warn("commit on revoke failed; the next owner reprocesses since the last commit", "err", err)
		}
	}
	a.dropTasks(revoked, a.sess == nil)
}

// onLost closes the lost partitions' tasks without committing: another
// member may own them already.
func (a *App) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	a.view.invalidate()
	a.dropTasks(lost, false)
}

// dropTasks closes the tasks of the given partitions.
func (a *App) dropTasks(parts map[string][]int32, keep bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for topic, ps := range parts {
		sub, ok := a.subOf[topic]
		if !ok {
			continue
		}
		for _, p := range ps {
			id := taskID{sub, p}
			delete(a.assigned, id)
			if tk := a.tasks[id]; tk != nil {
				tk.close(keep)
				delete(a.tasks, id)
				a.log.Info("task closed", "task", id.String())
			}
		}
	}
}

// closeTasks closes every task at the end of Run.
func (a *App) closeTasks(keep bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, tk := range a.tasks {
		tk.close(keep)
		delete(a.tasks, id)
	}
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms) }
