package main

import (
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/server"
)

func TestServeSecurityFlags(t *testing.T) {
	cmd := newServeCmd()
	args := []string{"--listeners", "PLAINTEXT://127.0.0.1:9092,SASL_SSL://0.0.0.0:9093",
		"--advertised-listeners", "SASL_SSL://kafka.example.com:9093", "--tls-cert-file", "c.pem", "--tls-key-file", "k.pem",
		"--tls-client-auth", "requested", "--sasl-enabled-mechanisms", "PLAIN,SCRAM-SHA-512", "--sasl-session-lifetime", "1h",
		"--sasl-bootstrap-user", "admin", "--sasl-oauthbearer-audience", "herald"}
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	fl := cmd.Flags()
	mechs, _ := fl.GetStringSlice("sasl-enabled-mechanisms")
	life, _ := fl.GetDuration("sasl-session-lifetime")
	aud, _ := fl.GetString("sasl-oauthbearer-audience")
	if !slices.Equal(mechs, []string{"PLAIN", "SCRAM-SHA-512"}) || life != time.Hour || aud != "herald" {
		t.Fatalf("mechanisms %v lifetime %v audience %q", mechs, life, aud)
	}
	if fl.Lookup("sasl-bootstrap-password") != nil {
		t.Fatal("the bootstrap password must not be a flag (it would show in ps)")
	}

	f := &serveFlags{listeners: "PLAINTEXT://127.0.0.1:9092,SASL_SSL://0.0.0.0:9093", advListeners: "SASL_SSL://kafka.example.com:9093"}
	f.cfg.SASL.BootstrapUser = "admin"
	env := map[string]string{"HERALD_SASL_BOOTSTRAP_PASSWORD": "s3cret"}
	if err := f.applySecurity(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	want := []server.Listener{{Name: "PLAINTEXT", Protocol: "PLAINTEXT", Addr: "127.0.0.1:9092"},
		{Name: "SASL_SSL", Protocol: "SASL_SSL", Addr: "0.0.0.0:9093", Advertised: "kafka.example.com:9093"}}
	if !slices.Equal(f.cfg.Listeners, want) || f.cfg.SASL.BootstrapPassword != "s3cret" {
		t.Fatalf("listeners %+v password %q", f.cfg.Listeners, f.cfg.SASL.BootstrapPassword)
	}
	bad := &serveFlags{listeners: "TCP://127.0.0.1:9092"}
	if err := bad.applySecurity(func(string) (string, bool) { return "", false }); err == nil {
		t.Fatal("unknown protocol accepted")
	}
}
