package broker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Error is a Kafka protocol error with a message for the client: handlers
// put Code in the ErrorCode field and Message in ErrorMessage.
type Error struct {
	Kafka   *kerr.Error
	Message string
	// cause is the error behind a storage error (an errno, a failed
	// log), kept for IsStorageError but never shown to the client.
	cause error
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Kafka.Message
	}
	return e.Kafka.Message + ": " + e.Message
}

// Unwrap lets errors.Is match the kerr value, and the cause of a storage
// error.
func (e *Error) Unwrap() []error {
	if e.cause == nil {
		return []error{e.Kafka}
	}
	return []error{e.Kafka, e.cause}
}

func kafkaErr(k *kerr.Error, msg string) error { return &Error{Kafka: k, Message: msg} }

// Code maps err to a Kafka error code and a message: 0 for nil, the kerr
// code for kerr errors and *Error, KAFKA_STORAGE_ERROR for storage errors
// (IsStorageError; the message names the cause, never a file path),
// UNKNOWN_SERVER_ERROR otherwise.
func Code(err error) (int16, *string) {
	if err == nil {
		return 0, nil
	}
	var be *Error
	if errors.As(err, &be) {
		msg := be.Message
		if msg == "" {
			return be.Kafka.Code, nil
		}
		return be.Kafka.Code, &msg
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code, nil
	}
	if IsStorageError(err) {
		// A write the disk refused (the metadata log on a full disk):
		// say so, without the server's file paths.
		msg := storageCause(err)
		return kerr.KafkaStorageError.Code, &msg
	}
	msg := err.Error()
	return kerr.UnknownServerError.Code, &msg
}
