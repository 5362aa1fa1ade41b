package kafka

import "github.com/heraldhq/herald/internal/access"

// principalFromClientID makes s name each connection's principal after
// its client id: client id "alice" acts as User:alice, and an empty
// client id as User:ANONYMOUS. Call it before Serve.
func principalFromClientID(s *Server) {
	s.testPrincipal = func(clientID string) access.Principal {
		if clientID == "" {
			return access.Anonymous
		}
		return access.Principal{Type: "User", Name: clientID}
	}
}
