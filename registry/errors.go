package registry

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is a registry error as the REST API reports it: an HTTP status, a
// Confluent error code and a message. The body is
// {"error_code":40401,"message":"Subject 'x' not found."}.
type Error struct {
	Status  int    `json:"-"` // HTTP status; not part of the body
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("%d: %s", e.Code, e.Message) }

// The error codes, as in Confluent Schema Registry; part of the REST API, do
// not change.
//
//	code   status  meaning
//	40401  404     subject not found
//	40402  404     version not found
//	40403  404     schema not found
//	40404  404     subject soft-deleted (permanent delete needed first?)
//	40405  404     subject not soft-deleted before a permanent delete
//	40406  404     version soft-deleted
//	40407  404     version not soft-deleted before a permanent delete
//	40408  404     subject has no subject-level compatibility
//	40409  404     subject has no subject-level mode
//	409    409     schema incompatible with an earlier one
//	42201  422     schema invalid
//	42202  422     version invalid
//	42203  422     compatibility level invalid
//	42204  422     mode invalid
//	42205  422     operation not permitted (mode)
//	42206  422     a schema still references the version
//	42207  422     id in the request conflicts with the stored one
//	50001  500     backend store (the _schemas topic) failed
//	50005  500     request body is not valid JSON
const (
	CodeSubjectNotFound       = 40401
	CodeVersionNotFound       = 40402
	CodeSchemaNotFound        = 40403
	CodeSubjectSoftDeleted    = 40404
	CodeSubjectNotSoftDeleted = 40405
	CodeVersionSoftDeleted    = 40406
	CodeVersionNotSoftDeleted = 40407
	CodeSubjectCompatNotSet   = 40408
	CodeSubjectModeNotSet     = 40409
	CodeIncompatible          = 409
	CodeInvalidSchema         = 42201
	CodeInvalidVersion        = 42202
	CodeInvalidCompatLevel    = 42203
	CodeInvalidMode           = 42204
	CodeOperationNotPermitted = 42205
	CodeReferenceExists       = 42206
	CodeIDDoesNotMatch        = 42207
	CodeStoreError            = 50001
	CodeJSONParse             = 50005
	codeNotFound              = 404 // unknown path
	codeMethodNotAllowed      = 405
)

func newErr(status, code int, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func errSubjectNotFound(s string) *Error {
	return newErr(http.StatusNotFound, CodeSubjectNotFound, "Subject '%s' not found.", s)
}

func errVersionNotFound(v int) *Error {
	return newErr(http.StatusNotFound, CodeVersionNotFound, "Version %d not found.", v)
}

func errSchemaNotFound() *Error {
	return newErr(http.StatusNotFound, CodeSchemaNotFound, "Schema not found")
}

func errInvalidSchema(err error) *Error {
	return newErr(http.StatusUnprocessableEntity, CodeInvalidSchema, "Invalid schema: %v", err)
}

func errInvalidVersion(v string) *Error {
	return newErr(http.StatusUnprocessableEntity, CodeInvalidVersion, "The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", v)
}

func errInvalidLevel(l string) *Error {
	return newErr(http.StatusUnprocessableEntity, CodeInvalidCompatLevel, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive; got %q", l)
}

func errStore(err error) *Error {
	return newErr(http.StatusInternalServerError, CodeStoreError, "Error in the backend data store: %v", err)
}

// asError turns any error into an *Error, a store error unless it already
// is one.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return errStore(err)
}
