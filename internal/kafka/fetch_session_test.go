package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFetchFullWithSessionID: a fetch naming a session with epoch -1
// (close it, sessionless full fetch, as segmentio/kafka-go sends) or 0
// (close it, start anew) is a full fetch, as in Kafka, and is answered
// with its records and session id 0; only an incremental fetch (epoch >
// 0) of a session we never gave out gets FETCH_SESSION_ID_NOT_FOUND.
func TestFetchFullWithSessionID(t *testing.T) {
	ts := startServer(t, nil)
	if _, err := ts.b.CreateTopic("sess", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	c := ts.dial(t)
	c.roundTrip(produceReq(9, "sess", 0, makeBatch(3, 10, 1)))
	for _, epoch := range []int32{-1, 0} {
		req := fetchReq(12, "sess", 0, 0, 0)
		req.SessionID, req.SessionEpoch = 12345, epoch
		resp := c.roundTrip(req).(*kmsg.FetchResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("epoch %d: error %v", epoch, kerr.ErrorForCode(resp.ErrorCode))
		}
		if resp.SessionID != 0 {
			t.Fatalf("epoch %d: session id %d, want 0 (no session)", epoch, resp.SessionID)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || len(resp.Topics[0].Partitions[0].RecordBatches) == 0 {
			t.Fatalf("epoch %d: answer without the partition's records: %+v", epoch, resp.Topics)
		}
	}
	req := fetchReq(12, "sess", 0, 0, 0)
	req.SessionID, req.SessionEpoch = 12345, 1
	resp := c.roundTrip(req).(*kmsg.FetchResponse)
	if resp.ErrorCode != kerr.FetchSessionIDNotFound.Code || len(resp.Topics) != 0 {
		t.Fatalf("incremental fetch: error %d, %d topics; want FETCH_SESSION_ID_NOT_FOUND and none", resp.ErrorCode, len(resp.Topics))
	}
}
