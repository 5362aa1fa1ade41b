package auth

import "bytes"

// plainExchange is SASL PLAIN (RFC 4616), one message:
//
//	message = [authzid] NUL authcid NUL passwd
//
// The password is checked against the user's SCRAM credential (see
// Store.Verify). An authzid, when given, must be the authcid: Herald does
// not let one user act as another.
type plainExchange struct {
	store *Store
	res   Result
	done  bool
}

func (x *plainExchange) Next(msg []byte) ([]byte, bool, error) {
	if x.done {
		return nil, false, failed("PLAIN takes one message")
	}
	x.done = true
	zid, rest, ok := bytes.Cut(msg, []byte{0})
	if !ok {
		return nil, false, failed("malformed PLAIN message: want authzid NUL user NUL password")
	}
	user, pass, ok := bytes.Cut(rest, []byte{0})
	if !ok || len(user) == 0 || bytes.IndexByte(pass, 0) >= 0 {
		return nil, false, failed("malformed PLAIN message: want authzid NUL user NUL password")
	}
	if len(zid) > 0 && !bytes.Equal(zid, user) {
		return nil, false, failed("authorization id must be empty or the user name")
	}
	p, err := x.store.Verify(string(user), string(pass))
	if err != nil {
		return nil, false, err
	}
	x.res.Principal = p
	return nil, true, nil
}

func (x *plainExchange) Result() Result { return x.res }
