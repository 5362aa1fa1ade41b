package kafka

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/broker"
	"github.com/heraldhq/herald/internal/share"
)

// shareErr maps a share coordinator error to its Kafka error.
func shareErr(err error) *kerr.Error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, share.ErrUnknownMember):
		return kerr.UnknownMemberID
	case errors.Is(err, share.ErrFencedEpoch):
		return kerr.FencedMemberEpoch
	case errors.Is(err, share.ErrGroupNotFound):
		return kerr.GroupIDNotFound
	case errors.Is(err, share.ErrNotEmpty):
		return kerr.NonEmptyGroup
	case errors.Is(err, share.ErrInvalidRequest):
		return kerr.InvalidRequest
	case errors.Is(err, share.ErrInvalidConfig):
		return kerr.InvalidConfig
	case errors.Is(err, share.ErrGroupMaxSize):
		return kerr.GroupMaxSizeReached
	case errors.Is(err, share.ErrSessionNotFound):
		return kerr.ShareSessionNotFound
	case errors.Is(err, share.ErrInvalidEpoch):
		return kerr.InvalidShareSessionEpoch
	case errors.Is(err, share.ErrInvalidRecordState):
		return kerr.InvalidRecordState
	case errors.Is(err, share.ErrInvalidAck):
		return kerr.InvalidRequest
	case errors.Is(err, share.ErrCoordinatorClosed):
		return kerr.CoordinatorNotAvailable
	}
	return kerr.KafkaStorageError
}

// shareCode is shareErr's code, 0 for nil.
func shareCode(err error) int16 {
	if e := shareErr(err); e != nil {
		return e.Code
	}
	return 0
}

// shareConfigErr is a group config error as the config APIs answer it,
// with its message.
func shareConfigErr(err error) error {
	if err == nil {
		return nil
	}
	return &broker.Error{Kafka: shareErr(err), Message: err.Error()}
}

// groupConfigEntries describes a group's configs: each share config with
// its value, dynamic (set on the group) or the broker's default.
func (s *Server) groupConfigEntries(group string) ([]broker.ConfigEntry, error) {
	if s.share == nil {
		return nil, kerr.CoordinatorNotAvailable
	}
	set := s.share.Configs(group)
	var out []broker.ConfigEntry
	for _, name := range share.ConfigNames {
		e := broker.ConfigEntry{Name: name, Value: s.share.DefaultConfig(name), Source: kmsg.ConfigSourceDefaultConfig}
		if v, ok := set[name]; ok {
			e.Value, e.Source = v, kmsg.ConfigSourceGroupConfig
		}
		out = append(out, e)
	}
	return out, nil
}
