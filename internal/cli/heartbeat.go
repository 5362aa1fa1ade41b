package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// heartbeatEvery is how often a long operation says it is still going.
const heartbeatEvery = time.Second

// heartbeat shows, on a terminal only, that a long operation (a create
// of many partitions, a reset over many partitions) is still waiting for
// the broker: "what... 3s" on stderr, redrawn every second once the
// first second has passed. stop clears the line. Off a terminal (a pipe,
// a log file) it writes nothing.
func heartbeat(w io.Writer, what string) (stop func()) {
	f, ok := w.(*os.File)
	if !ok {
		return func() {}
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return func() {}
	}
	return startHeartbeat(w, what, heartbeatEvery)
}

// startHeartbeat draws the heartbeat on w every interval until stop.
func startHeartbeat(w io.Writer, what string, every time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		drawn := false
		for {
			select {
			case <-done:
				if drawn {
					fmt.Fprint(w, "\r\033[K") // clear the line
				}
				return
			case now := <-t.C:
				fmt.Fprintf(w, "\r%s... %s", what, now.Sub(start).Round(time.Second))
				drawn = true
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}
