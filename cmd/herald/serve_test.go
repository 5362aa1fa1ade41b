package main

import (
	"testing"
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
