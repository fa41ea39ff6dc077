package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// Paging limits of the list endpoints.
const (
	DefaultPageSize = 100
	MaxPageSize     = 10000
)

// Error is the JSON error body of the REST API. Field names the request
// parameter or body field at fault; State is the current state of the
// object a refused transition was asked of.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	State   string `json:"state,omitempty"`
}

// WriteJSON answers with v as JSON.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError answers with an Error body.
func WriteError(w http.ResponseWriter, e Error) { WriteJSON(w, e.Code, e) }

// BadParam answers 400 naming the parameter.
func BadParam(w http.ResponseWriter, field string, err error) {
	WriteError(w, Error{Code: http.StatusBadRequest, Field: field, Message: "invalid " + field + ": " + err.Error()})
}

// NotFound answers 404.
func NotFound(w http.ResponseWriter, msg string) {
	WriteError(w, Error{Code: http.StatusNotFound, Message: msg})
}

// Limit reads the limit parameter: DefaultPageSize when absent, an error
// outside 1..MaxPageSize.
func Limit(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return DefaultPageSize, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxPageSize {
		return 0, errors.New("must be an integer from 1 to " + strconv.Itoa(MaxPageSize))
	}
	return n, nil
}
