package kafka

// maybeTestPrincipal sets r's connection's principal from its client id
// when a test asked for it (Server.testPrincipal, set only from
// export_test.go): tests get principals before SASL authenticates
// anyone. It runs on the reader goroutine before the handler, and writes
// only when the principal changes (a client sends one client id per
// connection, so once, before any later function of the connection
// reads it).
func (s *Server) maybeTestPrincipal(r *request) {
	if s.testPrincipal == nil {
		return
	}
	if p := s.testPrincipal(r.clientID); p != r.c.principal {
		r.c.principal = p
	}
}
