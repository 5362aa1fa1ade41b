package quota

import (
	"errors"
	"fmt"
	"math"
	"net"
	"sort"
	"strings"
)

// Entity types (Kafka's ClientQuotaEntity keys).
const (
	User     = "user"
	ClientID = "client-id"
	IP       = "ip"
)

// Quota keys (Kafka's QuotaConfigs).
const (
	ProducerByteRate       = "producer_byte_rate"       // bytes/s of produce requests; enforced
	ConsumerByteRate       = "consumer_byte_rate"       // bytes/s of fetch responses; enforced
	RequestPercentage      = "request_percentage"       // % of one handler thread's time; enforced
	ControllerMutationRate = "controller_mutation_rate" // stored, not enforced
	ConnectionCreationRate = "connection_creation_rate" // ip entities: new connections/s; enforced
)

// ErrInvalid marks an entity or an operation Kafka would refuse
// (INVALID_REQUEST).
var ErrInvalid = errors.New("invalid client quota")

// Entity names a quota entity: a name per entity type, "" being the
// type's default entity (Kafka's null name). Valid entities are a user, a
// client id, both, or an ip.
type Entity map[string]string

// String formats e as "user=alice,client-id=<default>".
func (e Entity) String() string {
	types := make([]string, 0, len(e))
	for t := range e {
		types = append(types, t)
	}
	sort.Strings(types)
	parts := make([]string, len(types))
	for i, t := range types {
		n := e[t]
		if n == "" {
			n = "<default>"
		}
		parts[i] = t + "=" + n
	}
	return strings.Join(parts, ",")
}

// Validate reports why Kafka would refuse e, wrapping ErrInvalid.
func (e Entity) Validate() error {
	if len(e) == 0 {
		return fmt.Errorf("%w: empty entity", ErrInvalid)
	}
	for t := range e {
		if t != User && t != ClientID && t != IP {
			return fmt.Errorf("%w: unknown entity type %q", ErrInvalid, t)
		}
	}
	if ip, ok := e[IP]; ok {
		if len(e) > 1 {
			return fmt.Errorf("%w: an ip entity cannot be combined with a user or client id", ErrInvalid)
		}
		if ip != "" && net.ParseIP(ip) == nil {
			return fmt.Errorf("%w: ip %q is not an IP address", ErrInvalid, ip)
		}
	}
	return nil
}

// validKey reports why key=value cannot be set on e, wrapping ErrInvalid.
func (e Entity) validKey(key string, value float64) error {
	_, isIP := e[IP]
	switch key {
	case ProducerByteRate, ConsumerByteRate, ControllerMutationRate, RequestPercentage:
		if isIP {
			return fmt.Errorf("%w: %s cannot be set on an ip entity", ErrInvalid, key)
		}
	case ConnectionCreationRate:
		if !isIP {
			return fmt.Errorf("%w: %s can only be set on an ip entity", ErrInvalid, key)
		}
	default:
		return fmt.Errorf("%w: unknown quota key %q", ErrInvalid, key)
	}
	if math.IsNaN(value) || math.IsInf(value, 0) || value <= 0 {
		return fmt.Errorf("%w: %s must be a positive number, got %v", ErrInvalid, key, value)
	}
	if (key == ProducerByteRate || key == ConsumerByteRate || key == ConnectionCreationRate) && value != math.Trunc(value) {
		return fmt.Errorf("%w: %s must be a whole number, got %v", ErrInvalid, key, value)
	}
	return nil
}

// Op is one change to an entity's quota values: set Key to Value, or
// remove it.
type Op struct {
	Key    string
	Value  float64
	Remove bool
}

// Alteration is the ops for one entity (Kafka's AlterClientQuotas entry).
type Alteration struct {
	Entity Entity
	Ops    []Op
}

// Validate reports why Kafka would refuse a, wrapping ErrInvalid.
func (a Alteration) Validate() error {
	if err := a.Entity.Validate(); err != nil {
		return err
	}
	seen := make(map[string]bool, len(a.Ops))
	for _, op := range a.Ops {
		if seen[op.Key] {
			return fmt.Errorf("%w: key %q appears twice", ErrInvalid, op.Key)
		}
		seen[op.Key] = true
		if op.Remove {
			if err := a.Entity.validKey(op.Key, 1); err != nil {
				return err
			}
			continue
		}
		if err := a.Entity.validKey(op.Key, op.Value); err != nil {
			return err
		}
	}
	return nil
}
