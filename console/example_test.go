package console_test

import (
	"fmt"
	"io"
	"net/http/httptest"
	"strings"

	"github.com/heraldhq/herald/console"
	"github.com/heraldhq/herald/heraldtest"
)

// A console in front of an in-process broker: its health check, and a
// record produced over HTTP.
func Example() {
	b, err := heraldtest.Start(heraldtest.WithTopics(1, "orders"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	c, err := console.New(console.Config{Brokers: []string{b.Addr()}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	hs := httptest.NewServer(c)
	defer hs.Close()

	resp, err := hs.Client().Get(hs.URL + "/readyz")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.StatusCode, " ", string(body))

	resp, err = hs.Client().Post(hs.URL+"/topics/orders/records", "application/json",
		strings.NewReader(`{"key":{"type":"STRING","data":"o-1"},"value":{"data":{"id":"o-1","qty":2}}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, len(body) > 0)
	// Output:
	// 200 ready
	// 200 true
}
