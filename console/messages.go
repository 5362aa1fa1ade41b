package console

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// messagesPage is the message browser's data.
type messagesPage struct {
	Topic      string
	Partitions int
	Query      query
	Result     browseResult
	Error      string // a malformed filter, shown above the form
	Values     url.Values
}

// handleMessages is the message browser: the form, and the records it
// selects. A malformed filter answers 400 with the form and the reason.
func (c *Console) handleMessages(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	nparts, err := c.describeTopicExists(r.Context(), topic)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	mp := messagesPage{Topic: topic, Partitions: nparts, Values: r.URL.Query()}
	q, err := parseQuery(r.URL.Query())
	mp.Query = q
	if err == nil {
		mp.Result, err = c.browse(r.Context(), topic, q)
	}
	status := http.StatusOK
	if err != nil {
		status = statusOf(err)
		if status != http.StatusBadRequest {
			c.fail(w, r, err)
			return
		}
		mp.Error = err.Error()
	}
	c.render(w, status, "messages", "Messages in "+topic, "topics", mp)
}

// handleValue downloads one record's whole value as bytes.
func (c *Console) handleValue(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	p, err1 := strconv.ParseInt(r.PathValue("partition"), 10, 32)
	o, err2 := strconv.ParseInt(r.PathValue("offset"), 10, 64)
	if err1 != nil || err2 != nil || p < 0 || o < 0 {
		c.fail(w, r, badRequest("partition %q and offset %q: want numbers of 0 or more", r.PathValue("partition"), r.PathValue("offset")))
		return
	}
	if _, err := c.describeTopicExists(r.Context(), topic); err != nil {
		c.fail(w, r, err)
		return
	}
	rec, err := c.fetchOne(r.Context(), topic, int32(p), o)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%d-%d.bin"`, safeName(topic), p, o))
	w.Header().Set("Content-Length", strconv.Itoa(len(rec.Value)))
	_, _ = w.Write(rec.Value)
}

// safeName keeps the characters Kafka allows in topic names.
func safeName(s string) string {
	out := []byte(s)
	for i, ch := range out {
		if !(ch == '.' || ch == '_' || ch == '-' || ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z') {
			out[i] = '_'
		}
	}
	return string(out)
}

func pathEscape(s string) string { return url.PathEscape(s) }
