package sqlrow

import (
	"fmt"
	"testing"

	"github.com/heraldhq/herald/outbox"
)

func TestPublishable(t *testing.T) {
	msg := func(seq int64, key string) outbox.Message { return outbox.Message{Seq: seq, Key: key} }
	tests := []struct {
		name    string
		claimed []outbox.Message
		all     []KeySeq
		want    string
	}{
		{"all mine", []outbox.Message{msg(1, "a"), msg(2, "a")}, []KeySeq{{"a", 1}, {"a", 2}}, "[1 2]"},
		{"earlier row held elsewhere", []outbox.Message{msg(3, "a"), msg(4, "b")}, []KeySeq{{"a", 1}, {"a", 3}, {"b", 4}}, "[4]"},
		{"gap held elsewhere", []outbox.Message{msg(1, "a"), msg(3, "a")}, []KeySeq{{"a", 1}, {"a", 2}, {"a", 3}}, "[1]"},
		{"none", nil, nil, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, _ := Publishable(tt.claimed, tt.all)
			var seqs []int64
			for _, m := range pub {
				seqs = append(seqs, m.Seq)
			}
			if got := fmt.Sprint(seqs); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}
