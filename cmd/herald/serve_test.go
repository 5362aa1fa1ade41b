package main

import (
	"testing"
	"time"
)

func TestApplyEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		expDir  string
		expPart int32
		expAuto bool
		expErr  bool
	}{
		{name: "defaults", expDir: "./herald-data", expPart: 1, expAuto: true},
		{name: "env", env: map[string]string{"HERALD_DATA_DIR": "/d", "HERALD_DEFAULT_PARTITIONS": "3", "HERALD_AUTO_CREATE_TOPICS": "false"},
			expDir: "/d", expPart: 3},
		{name: "flag wins", args: []string{"--data-dir", "/f"}, env: map[string]string{"HERALD_DATA_DIR": "/d"},
			expDir: "/f", expPart: 1, expAuto: true},
		{name: "bad env", env: map[string]string{"HERALD_DEFAULT_PARTITIONS": "many"}, expErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := newServeCmd()
			if err := cmd.ParseFlags(tc.args); err != nil {
				t.Fatal(err)
			}
			err := applyEnv(cmd.Flags(), func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if (err != nil) != tc.expErr {
				t.Fatalf("applyEnv: %v, want error %v", err, tc.expErr)
			}
			if err != nil {
				return
			}
			fl := cmd.Flags()
			dir, _ := fl.GetString("data-dir")
			parts, _ := fl.GetInt32("default-partitions")
			auto, _ := fl.GetBool("auto-create-topics")
			if dir != tc.expDir || parts != tc.expPart || auto != tc.expAuto {
				t.Fatalf("got dir=%q partitions=%d auto=%v", dir, parts, auto)
			}
		})
	}
}

func TestServeLimitFlags(t *testing.T) {
	cmd := newServeCmd()
	args := []string{"--connections-max-idle=250ms", "--request-read-timeout=2s", "--queued-max-request-bytes=1048576",
		"--fetch-max-bytes=4096", "--auto-create-per-request=3", "--auto-create-per-second=7", "--max-decompressed-bytes=8192"}
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	fl := cmd.Flags()
	idle, _ := fl.GetDuration("connections-max-idle")
	rt, _ := fl.GetDuration("request-read-timeout")
	queued, _ := fl.GetInt64("queued-max-request-bytes")
	fetchMax, _ := fl.GetInt32("fetch-max-bytes")
	perReq, _ := fl.GetInt("auto-create-per-request")
	perSec, _ := fl.GetInt("auto-create-per-second")
	dec, _ := fl.GetInt("max-decompressed-bytes")
	if idle != 250*time.Millisecond || rt != 2*time.Second || queued != 1<<20 || fetchMax != 4096 || perReq != 3 || perSec != 7 || dec != 8192 {
		t.Fatalf("got idle=%v read=%v queued=%d fetch=%d per-request=%d per-second=%d decompressed=%d", idle, rt, queued, fetchMax, perReq, perSec, dec)
	}
}

// TestServeGroupInitialRebalanceDelay: the flag defaults to Kafka's
// group.initial.rebalance.delay.ms (3s) and sets the group config.
func TestServeGroupInitialRebalanceDelay(t *testing.T) {
	for _, tc := range []struct {
		args []string
		exp  time.Duration
	}{{nil, 3 * time.Second}, {[]string{"--group-initial-rebalance-delay=250ms"}, 250 * time.Millisecond}, {[]string{"--group-initial-rebalance-delay=0"}, 0}} {
		cmd := newServeCmd()
		if err := cmd.ParseFlags(tc.args); err != nil {
			t.Fatal(err)
		}
		got, err := cmd.Flags().GetDuration("group-initial-rebalance-delay")
		if err != nil || got != tc.exp {
			t.Fatalf("%v: delay %v (%v), want %v", tc.args, got, err, tc.exp)
		}
	}
}

// TestServeNodeIDFlag: --node-id sets the broker's node id; default 0.
func TestServeNodeIDFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		exp  int32
	}{{nil, 0}, {[]string{"--node-id=1"}, 1}} {
		cmd := newServeCmd()
		if err := cmd.ParseFlags(tc.args); err != nil {
			t.Fatal(err)
		}
		if got, err := cmd.Flags().GetInt32("node-id"); err != nil || got != tc.exp {
			t.Fatalf("%v: node id %d (%v), want %d", tc.args, got, err, tc.exp)
		}
	}
}
