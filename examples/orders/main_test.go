package main

import (
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/examples/orders/shop"
	"github.com/heraldhq/herald/examples/orders/system"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   string
		expErr string
		check  func(f flags) bool
	}{
		{"defaults", "", "", func(f flags) bool {
			return f.cfg.Saga == shop.Choreography && f.rate == 5 && f.cfg.Brokers == nil && f.cfg.ConsoleAddr == "127.0.0.1:8080"
		}},
		{"orchestration against a cluster", "--saga orchestration --brokers a:9092,b:9092 --registry http://r:8081 --service payment,shipping", "",
			func(f flags) bool {
				return f.cfg.Saga == shop.Orchestration && len(f.cfg.Brokers) == 2 && strings.Join(f.cfg.Services, "+") == "payment+shipping"
			}},
		{"bench defaults to 1000 orders", "--bench --rate 10", "", func(f flags) bool { return f.orders == 1000 }},
		{"chaos", "--chaos --chaos-down 5s --chaos-kill shipping", "", func(f flags) bool {
			return f.chaos && f.chaosCfg.Down == 5*time.Second && f.chaosCfg.Service == "shipping" && f.chaosCfg.RestartBroker && f.chaosCfg.Duplicates == system.DefaultChaos.Duplicates
		}},
		{"chaos without downtime", "--chaos --chaos-down 0s", "--chaos", nil},
		{"the bench plants no unpaid order", "--bench --rate 10", "", func(f flags) bool { return f.mix.Unpaid == 0 }},
		{"unless asked", "--bench --rate 10 --unpaid 0.1 --unpaid-timeout 2s", "", func(f flags) bool {
			return f.mix.Unpaid == 0.1 && f.cfg.UnpaidTimeout == 2*time.Second
		}},
		{"the demo's schema evolves after 100 orders", "", "", func(f flags) bool {
			return f.cfg.OrderPlacedV2After == 100 && f.cfg.UnpaidTimeout == 15*time.Minute && f.mix.Unpaid > 0
		}},
		{"bad saga", "--saga both", "saga mode", nil},
		{"bench without rate", "--bench --rate 0", "--rate", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parse(strings.Fields(tc.args))
			if tc.expErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.expErr) {
					t.Fatalf("err %v, want %q", err, tc.expErr)
				}
				return
			}
			if err != nil || !tc.check(f) {
				t.Fatalf("parse(%q) = %+v, %v", tc.args, f, err)
			}
		})
	}
}
