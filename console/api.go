package console

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/heraldhq/herald/registry/protobuf"
	"github.com/heraldhq/herald/registry/serde"
)

// maxProduceBody bounds one produce request's body.
const maxProduceBody = 16 << 20

// ProduceRequest is one record to produce, in the shape of Confluent REST
// Proxy v3's produce API. Several may follow each other in one body.
type ProduceRequest struct {
	PartitionID *int32          `json:"partition_id,omitempty"`
	Headers     []ProduceHeader `json:"headers,omitempty"`
	Key         *ProduceData    `json:"key,omitempty"`
	Value       *ProduceData    `json:"value,omitempty"`
	Timestamp   *time.Time      `json:"timestamp,omitempty"`
}

// ProduceHeader is a header; Value is base64, as in REST Proxy v3.
type ProduceHeader struct {
	Name  string  `json:"name"`
	Value *string `json:"value"`
}

// ProduceData is a key or value: Type BINARY (Data base64), STRING, JSON
// (the default: Data any JSON), or AVRO, JSONSCHEMA or PROTOBUF, encoded
// through the registry with Subject's latest schema (default the topic's
// -key or -value subject). A PROTOBUF Data is the message in protojson;
// Message names its type (default the schema's first message).
type ProduceData struct {
	Type    string          `json:"type,omitempty"`
	Data    json.RawMessage `json:"data"`
	Subject string          `json:"subject,omitempty"`
	Message string          `json:"message,omitempty"`
}

// ProduceResponse is REST Proxy v3's answer for one record.
type ProduceResponse struct {
	ErrorCode   int        `json:"error_code"`
	Message     string     `json:"message,omitempty"`
	ClusterID   string     `json:"cluster_id,omitempty"`
	TopicName   string     `json:"topic_name,omitempty"`
	PartitionID int32      `json:"partition_id"`
	Offset      int64      `json:"offset"`
	Timestamp   time.Time  `json:"timestamp"`
	Key         *DataShape `json:"key,omitempty"`
	Value       *DataShape `json:"value,omitempty"`
}

// DataShape names a produced key's or value's type and size.
type DataShape struct {
	Type string `json:"type"`
	Size int    `json:"size"`
}

// apiError writes err as {"error_code", "message"} with its status.
func apiError(w http.ResponseWriter, err error) {
	status := statusOf(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error_code": status, "message": err.Error()})
}

// handleProduce produces each record of the body and answers one
// ProduceResponse per record, in order, one JSON object a line.
func (c *Console) handleProduce(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	nparts, err := c.describeTopicExists(r.Context(), topic)
	if err != nil {
		apiError(w, err)
		return
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxProduceBody))
	var recs []*kgo.Record
	var shapes [][2]*DataShape
	for {
		var req ProduceRequest
		if err := dec.Decode(&req); errors.Is(err, io.EOF) {
			break
		} else if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			apiError(w, &pageError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body: over %d bytes", mbe.Limit)})
			return
		} else if err != nil {
			apiError(w, badRequest("request body: %v", err))
			return
		}
		rec, ks, vs, err := c.toKafka(r.Context(), topic, nparts, &req)
		if err != nil {
			apiError(w, err)
			return
		}
		recs, shapes = append(recs, rec), append(shapes, [2]*DataShape{ks, vs})
	}
	if len(recs) == 0 {
		apiError(w, badRequest("request body holds no record"))
		return
	}
	c.produceAll(r.Context(), w, topic, recs, shapes)
}

// produceAll produces recs (all or none acknowledged each) and writes the
// responses.
func (c *Console) produceAll(ctx context.Context, w http.ResponseWriter, topic string, recs []*kgo.Record, shapes [][2]*DataShape) {
	results := make(kgo.ProduceResults, len(recs))
	var wg sync.WaitGroup
	for i, rec := range recs {
		cl := c.kcl // Kafka's default partitioner
		if rec.Partition >= 0 {
			cl = c.manual
		}
		wg.Add(1)
		cl.Produce(ctx, rec, func(r *kgo.Record, err error) {
			results[i] = kgo.ProduceResult{Record: r, Err: err}
			wg.Done()
		})
	}
	wg.Wait()
	w.Header().Set("Content-Type", "application/json")
	status := http.StatusOK
	for _, res := range results {
		if res.Err != nil {
			status = http.StatusBadGateway
		}
	}
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	for i, res := range results {
		out := ProduceResponse{ErrorCode: http.StatusOK, TopicName: topic, Key: shapes[i][0], Value: shapes[i][1]}
		if res.Err != nil {
			out.ErrorCode, out.Message = http.StatusBadGateway, res.Err.Error()
		} else {
			out.PartitionID, out.Offset, out.Timestamp = res.Record.Partition, res.Record.Offset, res.Record.Timestamp
		}
		_ = enc.Encode(out)
	}
}

// toKafka builds the record req describes.
func (c *Console) toKafka(ctx context.Context, topic string, nparts int, req *ProduceRequest) (*kgo.Record, *DataShape, *DataShape, error) {
	rec := &kgo.Record{Topic: topic, Partition: -1}
	if req.PartitionID != nil {
		if *req.PartitionID < 0 || int(*req.PartitionID) >= nparts {
			return nil, nil, nil, badRequest("partition_id %d: topic %q has partitions 0 to %d", *req.PartitionID, topic, nparts-1)
		}
		rec.Partition = *req.PartitionID
	}
	if req.Timestamp != nil {
		rec.Timestamp = *req.Timestamp
	}
	for _, h := range req.Headers {
		var v []byte
		if h.Value != nil {
			b, err := base64.StdEncoding.DecodeString(*h.Value)
			if err != nil {
				return nil, nil, nil, badRequest("header %q: value is not base64: %v", h.Name, err)
			}
			v = b
		}
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: h.Name, Value: v})
	}
	var ks, vs *DataShape
	var err error
	if rec.Key, ks, err = c.encodeData(ctx, topic+"-key", "key", req.Key); err != nil {
		return nil, nil, nil, err
	}
	if rec.Value, vs, err = c.encodeData(ctx, topic+"-value", "value", req.Value); err != nil {
		return nil, nil, nil, err
	}
	return rec, ks, vs, nil
}

// encodeData turns a key or value into bytes.
func (c *Console) encodeData(ctx context.Context, subject, what string, d *ProduceData) ([]byte, *DataShape, error) {
	if d == nil || len(d.Data) == 0 || string(d.Data) == "null" {
		return nil, nil, nil
	}
	typ := strings.ToUpper(d.Type)
	if typ == "" {
		typ = "JSON"
	}
	var b []byte
	var err error
	switch typ {
	case "JSON":
		b = append([]byte(nil), d.Data...)
	case "STRING", "BINARY":
		var s string
		if err = json.Unmarshal(d.Data, &s); err != nil {
			return nil, nil, badRequest("%s: a %s's data must be a JSON string", what, typ)
		}
		b = []byte(s)
		if typ == "BINARY" {
			if b, err = base64.StdEncoding.DecodeString(s); err != nil {
				return nil, nil, badRequest("%s: BINARY data is not base64: %v", what, err)
			}
		}
	case "AVRO", "JSONSCHEMA", "PROTOBUF":
		if d.Subject != "" {
			subject = d.Subject
		}
		b, err = c.encodeRegistry(ctx, subject, what, d)
	default:
		return nil, nil, badRequest("%s: type %q: want BINARY, STRING, JSON, AVRO, JSONSCHEMA or PROTOBUF", what, d.Type)
	}
	if err != nil {
		return nil, nil, err
	}
	return b, &DataShape{Type: typ, Size: len(b)}, nil
}

// encodeRegistry encodes d.Data with subject's latest schema.
func (c *Console) encodeRegistry(ctx context.Context, subject, what string, d *ProduceData) ([]byte, error) {
	if c.sd == nil {
		return nil, badRequest("%s: schema types need a registry, and this console has none", what)
	}
	enc, err := c.sd.Encoder(ctx, subject, sr.Schema{}, serde.UseLatest())
	if err != nil {
		return nil, badRequest("%s: subject %q: %v", what, subject, err)
	}
	if strings.EqualFold(d.Type, "PROTOBUF") {
		return c.encodeProto(ctx, enc, subject, what, d)
	}
	var v any
	if err := json.Unmarshal(d.Data, &v); err != nil {
		return nil, badRequest("%s: data: %v", what, err)
	}
	// JSON has one number type and Avro several: whole numbers are tried
	// as integers first (int, long), then as they came (float, double).
	b, err := enc.Encode(wholeNumbers(v))
	if err != nil {
		if b, err = enc.Encode(v); err != nil {
			return nil, badRequest("%s: does not fit subject %q's schema: %v", what, subject, err)
		}
	}
	return b, nil
}

// wholeNumbers copies v with whole float64s as ints.
func wholeNumbers(v any) any {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int(x)
		}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = wholeNumbers(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = wholeNumbers(e)
		}
		return out
	}
	return v
}

// handleConsume answers the records a browse query selects, as JSON,
// values whole: {"records": [...]}.
func (c *Console) handleConsume(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	q, err := parseQuery(r.URL.Query())
	if err != nil {
		apiError(w, err)
		return
	}
	q.Full = true
	res, err := c.browse(r.Context(), topic, q)
	if err != nil {
		apiError(w, err)
		return
	}
	if res.Records == nil {
		res.Records = []Record{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"records": res.Records, "scanned": res.Scanned, "capped": res.Capped})
}

// encodeProto reads d.Data as protojson into a message of subject's latest
// schema and encodes it.
func (c *Console) encodeProto(ctx context.Context, enc *serde.Encoder, subject, what string, d *ProduceData) ([]byte, error) {
	ss, err := c.src.SchemaByVersion(ctx, subject, -1)
	if err != nil {
		return nil, registryErr("subject "+subject, err)
	}
	if ss.Type != sr.TypeProtobuf {
		return nil, badRequest("%s: subject %q holds %s, not PROTOBUF", what, subject, ss.Type)
	}
	if len(ss.References) > 0 {
		return nil, badRequest("%s: Protobuf schemas with references are not supported over HTTP yet", what)
	}
	ps, err := protobuf.Parse(ss.Schema.Schema, nil)
	if err != nil {
		return nil, fmt.Errorf("subject %s: %w", subject, err)
	}
	msgs := ps.File.Messages()
	if msgs.Len() == 0 {
		return nil, badRequest("%s: subject %q's schema has no message", what, subject)
	}
	md := msgs.Get(0)
	if d.Message != "" {
		if md = msgs.ByName(protoreflect.Name(d.Message)); md == nil {
			return nil, badRequest("%s: subject %q's schema has no message %q", what, subject, d.Message)
		}
	}
	m := dynamicpb.NewMessage(md)
	if err := protojson.Unmarshal(d.Data, m); err != nil {
		return nil, badRequest("%s: not a %s in protojson: %v", what, md.FullName(), err)
	}
	b, err := enc.Encode(m)
	if err != nil {
		return nil, badRequest("%s: %v", what, err)
	}
	return b, nil
}
