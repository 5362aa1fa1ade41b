package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/httpauth"
	"github.com/heraldhq/herald/kafkasec"
)

// Op is what a request does to a subject.
type Op int

const (
	// OpRead reads a subject's schemas, versions or settings, or looks a
	// schema up or tests its compatibility.
	OpRead Op = iota + 1
	// OpWrite registers or deletes schemas or changes settings.
	OpWrite
)

func (o Op) String() string {
	if o == OpWrite {
		return "Write"
	}
	return "Read"
}

// Authorizer decides what a principal may do to a subject. Subject ""
// is the registry as a whole: the global compatibility level and mode.
// Authorize returns (false, nil) to deny and an error when it cannot
// decide (the request is then answered 503, never allowed). It must be
// safe for concurrent use.
type Authorizer interface {
	Authorize(ctx context.Context, principal, subject string, op Op) (bool, error)
}

// CodeForbidden is Confluent's error code of a denied request (403).
const CodeForbidden = 40301

// TopicACLs is the Authorizer that makes subjects follow the ACLs of
// their topic, by the TopicNameStrategy: "orders-value" and "orders-key"
// are the topic "orders". Reading needs DESCRIBE on the topic (which
// READ, WRITE, ALTER and DELETE imply), writing WRITE or ALTER. Other
// subjects, and the registry as a whole, need DESCRIBE (read) or ALTER
// (write) on the CLUSTER.
type TopicACLs struct {
	ACLs *kafkasec.ClusterACLs
}

// SubjectTopic is the topic of a subject under the TopicNameStrategy,
// and false for subjects of other strategies.
func SubjectTopic(subject string) (string, bool) {
	for _, suffix := range []string{"-value", "-key"} {
		if t, ok := strings.CutSuffix(subject, suffix); ok && t != "" {
			return t, true
		}
	}
	return "", false
}

// Authorize implements Authorizer.
func (a TopicACLs) Authorize(ctx context.Context, principal, subject string, op Op) (bool, error) {
	rt, name := kmsg.ACLResourceTypeCluster, "kafka-cluster"
	if t, ok := SubjectTopic(subject); ok {
		rt, name = kmsg.ACLResourceTypeTopic, t
	}
	if op == OpRead {
		return a.ACLs.Allowed(ctx, principal, rt, name, kmsg.ACLOperationDescribe)
	}
	if rt == kmsg.ACLResourceTypeTopic {
		ok, err := a.ACLs.Allowed(ctx, principal, rt, name, kmsg.ACLOperationWrite)
		if ok || err != nil {
			return ok, err
		}
	}
	return a.ACLs.Allowed(ctx, principal, rt, name, kmsg.ACLOperationAlter)
}

// rule is the authorization a route needs.
type rule int

const (
	ruleNone    rule = iota // any authenticated principal (listings filter their output)
	ruleSubject             // the {subject} path value
	ruleGlobal              // subject "": global config and mode
	ruleID                  // some subject holding the {id} path value
)

// ruleOf derives a route's rule and operation from its pattern, e.g.
// "POST /subjects/{subject}/versions".
func ruleOf(pattern string) (rule, Op) {
	method, path, _ := strings.Cut(pattern, " ")
	op := OpRead
	lookup := method == http.MethodPost && path == "/subjects/{subject}"
	if method != http.MethodGet && !lookup && !strings.HasPrefix(path, "/compatibility/") {
		op = OpWrite // register, delete, set; a lookup (POST /subjects/{s}) and a compatibility test only read
	}
	switch {
	case strings.Contains(path, "{subject}"):
		return ruleSubject, op
	case strings.Contains(path, "{id}"):
		return ruleID, OpRead
	case op == OpWrite:
		return ruleGlobal, op
	}
	return ruleNone, op
}

// guard wraps h with the authorization its pattern needs; without an
// Authorizer it returns h.
func (s *Server) guard(pattern string, h http.HandlerFunc) http.HandlerFunc {
	if s.cfg.Authorizer == nil {
		return h
	}
	rl, op := ruleOf(pattern)
	if rl == ruleNone {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		var ok bool
		var err error
		switch rl {
		case ruleSubject:
			ok, err = s.authorize(r.Context(), r.PathValue("subject"), op)
		case ruleGlobal:
			ok, err = s.authorize(r.Context(), "", op)
		case ruleID:
			ok, err = s.authorizeID(r.Context(), r.PathValue("id"))
		}
		if err != nil {
			s.cfg.Logger.Warn("registry: authorization failed", "err", err)
			writeErr(w, newErr(http.StatusServiceUnavailable, CodeStoreError, "Cannot check authorization now: %v", err))
			return
		}
		if !ok {
			writeErr(w, errDenied(httpauth.Principal(r.Context()), op, r.PathValue("subject")))
			return
		}
		h(w, r)
	}
}

func errDenied(principal string, op Op, subject string) *Error {
	what := "Subject: " + subject
	if subject == "" {
		what = "the registry's global settings"
	}
	return newErr(http.StatusForbidden, CodeForbidden, "User %s is denied operation %s on %s", principal, op, what)
}

func (s *Server) authorize(ctx context.Context, subject string, op Op) (bool, error) {
	return s.cfg.Authorizer.Authorize(ctx, httpauth.Principal(ctx), subject, op)
}

// authorizeID allows reading a schema by id to a principal that may
// read a subject holding it. An unknown id is let through to answer 404.
func (s *Server) authorizeID(ctx context.Context, idText string) (bool, error) {
	id, err := strconv.Atoi(idText)
	if err != nil {
		return true, nil
	}
	vs := s.usages(id, true)
	if len(vs) == 0 {
		return true, nil
	}
	for _, v := range vs {
		ok, err := s.authorize(ctx, v.Subject, OpRead)
		if ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}

// readable filters names to the subjects the request's principal may
// read; with no Authorizer it returns names. No lock may be held: the
// Authorizer may ask the cluster.
func (s *Server) readable(ctx context.Context, names []string) ([]string, error) {
	if s.cfg.Authorizer == nil {
		return names, nil
	}
	out := names[:0:0]
	seen := map[string]bool{}
	for _, n := range names {
		ok, done := seen[n]
		if !done {
			var err error
			if ok, err = s.authorize(ctx, n, OpRead); err != nil {
				return nil, fmt.Errorf("authorization: %w", err)
			}
			seen[n] = ok
		}
		if ok {
			out = append(out, n)
		}
	}
	return out, nil
}

// errUnavailable answers a listing whose filter could not be decided.
func errUnavailable(err error) *Error {
	return newErr(http.StatusServiceUnavailable, CodeStoreError, "Cannot check authorization now: %v", errors.Unwrap(err))
}
