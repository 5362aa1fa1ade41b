package broker

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testenv"
)

// TestCreateLogsProgress: a create that takes longer than progressEvery
// logs how many partitions are done, and that it is done.
func TestCreateLogsProgress(t *testing.T) {
	defer func(d time.Duration) { progressEvery = d }(progressEvery)
	progressEvery = time.Nanosecond
	var buf testenv.Buffer
	b, err := Open(Config{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.CreateTopic("many", 128, nil, false); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{`msg="creating partitions" topic=many done=64 of=128`, `msg="creating partitions: done" topic=many partitions=128`} {
		if !strings.Contains(out, want) {
			t.Fatalf("log lacks %q:\n%s", want, out)
		}
	}
}
