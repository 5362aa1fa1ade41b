package kafka

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The spliced frame must be byte for byte what kmsg would encode.
func TestFetchSpliceMatchesPlainEncoding(t *testing.T) {
	for _, version := range []int16{4, 11, 12, 13, 16, 18} {
		for _, sizes := range [][]int{{100}, {0, 70000, 5}, {1 << 20, 0, 0, 200000}, {127, 128, 16383, 16384}} {
			t.Run(fmt.Sprintf("v%d/%v", version, sizes), func(t *testing.T) {
				resp := kmsg.NewPtrFetchResponse()
				resp.SetVersion(version)
				for ti := 0; ti < 2; ti++ {
					rt := kmsg.NewFetchResponseTopic()
					rt.Topic = fmt.Sprintf("topic-%d", ti)
					for pi, n := range sizes {
						rp := kmsg.NewFetchResponseTopicPartition()
						rp.Partition = int32(pi)
						rp.HighWatermark = int64(n)
						if n > 0 {
							rp.RecordBatches = bytes.Repeat([]byte{byte(pi + ti)}, n)
						}
						rt.Partitions = append(rt.Partitions, rp)
					}
					resp.Topics = append(resp.Topics, rt)
				}
				want := appendResponse(nil, 77, resp)
				var fs fetchSplice
				_, iov, ok := fs.appendFetchFrame(nil, 77, resp)
				if !ok {
					t.Fatal("splice refused a plain response")
				}
				var got bytes.Buffer
				iov.WriteTo(&got)
				if !bytes.Equal(got.Bytes(), want) {
					t.Fatalf("spliced frame differs: %d bytes, want %d", got.Len(), len(want))
				}
				if again := appendResponse(nil, 77, resp); !bytes.Equal(again, want) {
					t.Fatal("the response was not restored")
				}
			})
		}
	}
}

// A topic name that happens to contain a marker makes the splice fall back.
func TestFetchSpliceFallsBack(t *testing.T) {
	resp := kmsg.NewPtrFetchResponse()
	resp.SetVersion(12)
	rt := kmsg.NewFetchResponseTopic()
	rt.Topic = string(marker(0))
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.RecordBatches = bytes.Repeat([]byte{1}, 100)
	rt.Partitions = append(rt.Partitions, rp)
	resp.Topics = append(resp.Topics, rt)
	var fs fetchSplice
	if _, _, ok := fs.appendFetchFrame(nil, 1, resp); ok {
		t.Fatal("splice accepted a frame whose first marker is not the batches'")
	}
}
