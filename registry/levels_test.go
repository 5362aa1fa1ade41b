package registry

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
)

func avroRec(fields string) string {
	return `{"type":"record","name":"R","fields":[` + fields + `]}`
}

var (
	lvA      = avroRec(`{"name":"a","type":"int"}`)
	lvAB     = avroRec(`{"name":"a","type":"int"},{"name":"b","type":"int"}`)
	lvABd    = avroRec(`{"name":"a","type":"int"},{"name":"b","type":"int","default":0}`)
	lvAd     = avroRec(`{"name":"a","type":"int","default":0}`)
	lvX      = avroRec(`{"name":"x","type":"int","default":0}`)
	lvXAs    = avroRec(`{"name":"x","type":"int","default":0},{"name":"a","type":"string","default":""}`)
	lvEmpty  = avroRec(``)
	lvAsD    = avroRec(`{"name":"a","type":"string","default":""}`)
	lvAsNoDf = avroRec(`{"name":"a","type":"string"}`)
)

// TestLevels registers a history of schemas under a level, then checks
// whether the next one is accepted. The transitive cases pass against the
// latest version and fail against an older one.
func TestLevels(t *testing.T) {
	tests := []struct {
		level   sr.CompatibilityLevel
		history []string
		next    string
		expOK   bool
	}{
		{sr.CompatNone, []string{lvA}, lvAsNoDf, true},
		{sr.CompatBackward, []string{lvA}, lvAB, false},
		{sr.CompatBackward, []string{lvA}, lvABd, true},
		{sr.CompatBackward, []string{lvAB}, lvA, true},
		{sr.CompatBackward, []string{lvA, lvX}, lvXAs, true},
		{sr.CompatBackwardTransitive, []string{lvA, lvX}, lvXAs, false},
		{sr.CompatBackwardTransitive, []string{lvA, lvABd}, lvABd + " ", true},
		{sr.CompatForward, []string{lvA}, lvAB, true},
		{sr.CompatForward, []string{lvAB}, lvA, false},
		{sr.CompatForward, []string{lvAd, lvEmpty}, lvAsNoDf, true},
		{sr.CompatForwardTransitive, []string{lvAd, lvEmpty}, lvAsNoDf, false},
		{sr.CompatFull, []string{lvA}, lvABd, true},
		{sr.CompatFull, []string{lvA}, lvAB, false},
		{sr.CompatFull, []string{lvAB}, lvA, false},
		{sr.CompatFull, []string{lvAd, lvEmpty}, lvAsD, true},
		{sr.CompatFullTransitive, []string{lvAd, lvEmpty}, lvAsD, false},
	}
	tr := newTestRegistry(t, func(c *Config) {})
	ctx := ctxT(t)
	for i, tt := range tests {
		subject := fmt.Sprintf("s%d", i)
		t.Run(fmt.Sprintf("%d_%s", i, tt.level), func(t *testing.T) {
			if r := tr.cl.SetCompatibility(ctx, sr.SetCompatibility{Level: tt.level}, subject); r[0].Err != nil {
				t.Fatal(r[0].Err)
			}
			// History goes in under NONE, so it is whatever the test says.
			tr.cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone}, subject)
			for _, h := range tt.history {
				if _, err := tr.cl.CreateSchema(ctx, subject, sr.Schema{Schema: h}); err != nil {
					t.Fatal(err)
				}
			}
			tr.cl.SetCompatibility(ctx, sr.SetCompatibility{Level: tt.level}, subject)
			_, err := tr.cl.CreateSchema(ctx, subject, sr.Schema{Schema: tt.next})
			if tt.expOK && err != nil {
				t.Fatalf("expected compatible: %v", err)
			}
			if !tt.expOK && srCode(err) != 409 {
				t.Fatalf("expected 409, got %v", err)
			}
		})
	}
}
