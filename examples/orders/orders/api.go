package orders

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
)

// CorrelationHeader carries a request's correlation id; the events of
// the order it places all carry it. Without one, the order gets a new id,
// which the answer and this header of the response tell.
const CorrelationHeader = "X-Correlation-ID"

// Handler is the orders HTTP API:
//
//	POST /orders              {"customer": "c-1", "card": "4242...", "items": [{"sku": "tea", "qty": 2}]}
//	                          201 {"order_id", "correlation_id", "status": "placed", "total"}
//	GET  /orders/{id}         200 View (the read model), 404
//	POST /orders/{id}/cancel  200 {"order_id", "status"}; 409 once paid
//
// Errors are {"error": "..."} with 400, 404, 409 or 500.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", s.handlePlace)
	mux.HandleFunc("GET /orders/{id}", s.handleGet)
	mux.HandleFunc("POST /orders/{id}/cancel", s.handleCancel)
	return mux
}

func (s *Service) handlePlace(w http.ResponseWriter, r *http.Request) {
	var req PlaceRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: " + err.Error()})
		return
	}
	p, corr, err := s.Place(r.Context(), r.Header.Get(CorrelationHeader), req)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set(CorrelationHeader, corr)
	writeJSON(w, http.StatusCreated, map[string]any{"order_id": p.OrderID, "correlation_id": corr, "status": "placed", "total": p.Total})
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) {
	v, err := s.View(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Service) handleCancel(w http.ResponseWriter, r *http.Request) {
	o, err := s.Cancel(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"order_id": o.Placed.OrderID, "status": o.Status()})
}

func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrBadRequest):
		code = http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrTooLate):
		code = http.StatusConflict
	case errors.Is(err, context.Canceled):
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
