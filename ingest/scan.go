package ingest

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// The Prometheus and generic parsers read their JSON with the scanner in
// this file instead of building a tree of values first: one pass over the
// body decodes label names and values straight into the builder's buffer,
// so a label costs no allocation and no intermediate value.
//
// The scanner accepts exactly the JSON of RFC 8259, as encoding/json's
// json.Valid does: whitespace (space, tab, CR, LF) between any tokens,
// object keys in any order, numbers by the grammar, the literals true,
// false and null, and string escapes \" \\ \/ \b \f \n \r \t \uXXXX. A
// surrogate pair of \u escapes decodes to one character; a lone surrogate
// escape decodes to U+FFFD, as in encoding/json. Raw control characters
// (below 0x20) in strings and anything but whitespace after the top-level
// value are errors. Values of unknown keys are skipped but still
// validated. Nesting deeper than maxDepth is refused, as encoding/json
// refuses it. Raw invalid UTF-8 in a string is not a JSON error (json.Valid
// allows it); the builder refuses it where the text would end up in an
// event (labels, annotations, URL, severity, source, identity).
//
// Errors. A syntax error anywhere in the body is reported in preference
// to any error about a field's type or value, as when the whole body was
// parsed before any field was read: when the scan stops on a field error,
// the body is validated in full (validateJSON) before that error is
// reported. The main scan only notes that the JSON is malformed
// (errSyntax); validateJSON, a second pass made only on failure, says
// where and why, with the byte offset, so there is one source of error
// messages.

// maxDepth is the deepest nesting of arrays and objects accepted, the
// limit of encoding/json.
const maxDepth = 10000

// errSyntax is the scan's note that the body is not valid JSON. It is
// never returned to a caller: settle replaces it with validateJSON's
// description.
var errSyntax = &FieldError{Index: -1, Msg: "malformed JSON"}

// strStop marks the bytes that end a run of plain string text: the
// closing quote, the backslash of an escape, and the control characters
// JSON forbids in strings.
var strStop = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'] = true
	t['\\'] = true
	return t
}()

// scanner is a position in a JSON body.
type scanner struct {
	data    []byte
	pos     int
	tmp     []byte // scratch for strings with escapes that are read, not kept
	badUTF8 bool   // appendString decoded invalid UTF-8 since it was reset
}

// ws skips whitespace and returns the byte at the new position, 0 at the
// end of the body (a NUL byte is never valid outside a string either).
func (s *scanner) ws() byte {
	if s.pos < len(s.data) && s.data[s.pos] > ' ' {
		return s.data[s.pos]
	}
	return s.wsSlow()
}

func (s *scanner) wsSlow() byte {
	data, i := s.data, s.pos
	for ; i < len(data); i++ {
		switch c := data[i]; c {
		case ' ', '\t', '\n', '\r':
			continue
		default:
			s.pos = i
			return c
		}
	}
	s.pos = i
	return 0
}

// plain returns the end of the run of plain string text (no quote,
// backslash or control character) that starts at data[i], and the OR of
// its bytes, whose high bits say whether it is all ASCII. It reads eight
// bytes at a time: a byte b of x is a stop byte when b < 0x20, b^'"' == 0
// or b^'\\' == 0, which the borrows of the subtractions below set the top
// bit of (b's own top bit being clear); a borrow only runs upwards, so
// the lowest flagged byte is the first stop byte.
func plain(data []byte, i int) (int, uint64) {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	var acc uint64
	for i+8 <= len(data) {
		x := binary.LittleEndian.Uint64(data[i:])
		if t := ((x - lo*0x20) | ((x ^ lo*'"') - lo) | ((x ^ lo*'\\') - lo)) &^ x & hi; t != 0 {
			k := bits.TrailingZeros64(t) >> 3
			return i + k, acc | x&(1<<(8*k)-1)
		}
		acc |= x
		i += 8
	}
	for ; i < len(data) && !strStop[data[i]]; i++ {
		acc |= uint64(data[i])
	}
	return i, acc
}

// appendString decodes the JSON string whose opening quote is at s.pos,
// appends its text to dst and leaves s.pos after the closing quote. It
// returns false if the string is malformed, and sets s.badUTF8 if its
// text is not valid UTF-8.
func (s *scanner) appendString(dst []byte) ([]byte, bool) {
	begin := len(dst)
	dst, acc, ok := s.appendRaw(dst)
	// Only raw bytes can be invalid UTF-8: escapes decode to characters.
	if acc&0x8080808080808080 != 0 && !utf8.Valid(dst[begin:]) {
		s.badUTF8 = true
	}
	return dst, ok
}

// appendRaw is appendString without the UTF-8 check; it returns the OR of
// the string's raw bytes instead.
func (s *scanner) appendRaw(dst []byte) ([]byte, uint64, bool) {
	data := s.data
	start := s.pos + 1
	var acc uint64
	for {
		i, a := plain(data, start)
		acc |= a
		if i >= len(data) {
			return dst, acc, false
		}
		switch data[i] {
		case '"':
			dst = append(dst, data[start:i]...)
			s.pos = i + 1
			return dst, acc, true
		case '\\':
			dst = append(dst, data[start:i]...)
			var n int
			dst, n = appendEscape(dst, data[i:])
			if n == 0 {
				return dst, acc, false
			}
			start = i + n
		default: // a control character
			return dst, acc, false
		}
	}
}

// readString reads the JSON string at s.pos: a slice of the body when it
// has no escapes, else its decoded text in s.tmp. Either is valid until
// the next readString.
func (s *scanner) readString() ([]byte, bool) {
	data := s.data
	start := s.pos + 1
	i, _ := plain(data, start)
	if i < len(data) && data[i] == '"' {
		s.pos = i + 1
		return data[start:i], true
	}
	var ok bool
	s.tmp, _, ok = s.appendRaw(s.tmp[:0])
	return s.tmp, ok
}

// appendEscape decodes the escape at the start of src (a backslash) onto
// dst and returns how many bytes of src it took, 0 if it is malformed.
func appendEscape(dst, src []byte) ([]byte, int) {
	r, n := decodeEscape(src)
	if n == 0 {
		return dst, 0
	}
	if r < utf8.RuneSelf {
		return append(dst, byte(r)), n
	}
	return utf8.AppendRune(dst, r), n
}

// decodeEscape decodes the escape at the start of src (a backslash) and
// returns the character and how many bytes of src it took, 0 if it is
// malformed.
func decodeEscape(src []byte) (rune, int) {
	if len(src) < 2 {
		return 0, 0
	}
	switch src[1] {
	case '"', '\\', '/':
		return rune(src[1]), 2
	case 'b':
		return '\b', 2
	case 'f':
		return '\f', 2
	case 'n':
		return '\n', 2
	case 'r':
		return '\r', 2
	case 't':
		return '\t', 2
	case 'u':
		r := hex4(src[2:])
		if r < 0 {
			return 0, 0
		}
		if !utf16.IsSurrogate(r) {
			return r, 6
		}
		// A high surrogate and a low one make one character; any other
		// surrogate is U+FFFD, and what follows it is read on its own, as
		// encoding/json does.
		r2 := rune(-1)
		if len(src) >= 12 && src[6] == '\\' && src[7] == 'u' {
			r2 = hex4(src[8:])
		}
		if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
			return d, 12
		}
		return utf8.RuneError, 6
	}
	return 0, 0
}

// hex4 decodes the four hex digits at the start of b, -1 if there are not
// four.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// null reads the literal null at s.pos.
func (s *scanner) null() *FieldError {
	if len(s.data)-s.pos >= 4 && string(s.data[s.pos:s.pos+4]) == "null" {
		s.pos += 4
		return nil
	}
	return errSyntax
}

// typeName names the type of the JSON value that starts with c, as
// field errors do; "" if no value starts with c.
func typeName(c byte) string {
	switch {
	case c == '"':
		return "string"
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == 't':
		return "true"
	case c == 'f':
		return "false"
	case c == 'n':
		return "null"
	case c == '-' || '0' <= c && c <= '9':
		return "number"
	}
	return ""
}

// stringObject reads the JSON object at s.pos, whose values must all be
// strings, into dst (labels or annotations): names and values are decoded
// into b.buf. field names the object for errors.
func (s *scanner) stringObject(b *builder, idx int, field string, dst *[]span) *FieldError {
	data := s.data
	if s.pos >= len(data) || data[s.pos] != '{' {
		return fieldErr(idx, field, "must be an object of strings")
	}
	s.pos++
	c := s.ws()
	if c == '}' {
		s.pos++
		return nil
	}
	for {
		if c != '"' {
			return errSyntax
		}
		n0 := len(b.buf)
		var ok bool
		if b.buf, ok = s.appendString(b.buf); !ok {
			return errSyntax
		}
		n1 := len(b.buf)
		if s.ws() != ':' {
			return errSyntax
		}
		s.pos++
		if c = s.ws(); c != '"' {
			t := typeName(c)
			if t == "" {
				return errSyntax
			}
			return fieldErr(idx, field+"."+string(b.buf[n0:n1]), "must be a string, got "+t)
		}
		if n1 == n0 {
			return fieldErr(idx, field, "empty label name")
		}
		b.buf = append(b.buf, sep)
		v0 := len(b.buf)
		if b.buf, ok = s.appendString(b.buf); !ok {
			return errSyntax
		}
		*dst = append(*dst, span{int32(n0), int32(n1), int32(v0), int32(len(b.buf))})
		b.buf = append(b.buf, sep)
		switch s.ws() {
		case ',':
			s.pos++
			c = s.ws()
		case '}':
			s.pos++
			return nil
		default:
			return errSyntax
		}
	}
}

// extraString reads the JSON string at s.pos into a new extra slot of b
// and returns the slot.
func (s *scanner) extraString(b *builder) (int, *FieldError) {
	v0 := len(b.buf)
	var ok bool
	if b.buf, ok = s.appendString(b.buf); !ok {
		return -1, errSyntax
	}
	b.extra = append(b.extra, span{v0: int32(v0), v1: int32(len(b.buf))})
	return len(b.extra) - 1, nil
}

// time reads the RFC 3339 time string at s.pos; null is the zero time.
func (s *scanner) time(idx int, field string) (time.Time, *FieldError) {
	switch s.peek() {
	case 'n':
		return time.Time{}, s.null()
	case '"':
		sb, ok := s.readString()
		if !ok {
			return time.Time{}, errSyntax
		}
		return parseTime(idx, field, sb)
	}
	return time.Time{}, fieldErr(idx, field, "must be an RFC 3339 time string")
}

// fields reads the object at s.pos (its opening brace), calling read for
// each member with s.pos at the value, which read must consume, and
// leaves s.pos after the closing brace.
func (s *scanner) fields(read func(key []byte) *FieldError) *FieldError {
	s.pos++ // {
	c := s.ws()
	if c == '}' {
		s.pos++
		return nil
	}
	for {
		k, ferr := s.key(c)
		if ferr != nil {
			return ferr
		}
		if ferr := read(k); ferr != nil {
			return ferr
		}
		more, ferr := s.next('}')
		if ferr != nil || !more {
			return ferr
		}
		c = s.peek()
	}
}

// key reads an object key at s.pos (c is the byte there) and the colon
// after it, and leaves s.pos at the value.
func (s *scanner) key(c byte) ([]byte, *FieldError) {
	if c != '"' {
		return nil, errSyntax
	}
	k, ok := s.readString()
	if !ok {
		return nil, errSyntax
	}
	if s.ws() != ':' {
		return nil, errSyntax
	}
	s.pos++
	s.ws()
	return k, nil
}

// next reads what follows a member of an object or an element of an array
// (the closing byte is end): true after a comma, with s.pos at the next
// member, false after the closing bracket.
func (s *scanner) next(end byte) (bool, *FieldError) {
	switch s.ws() {
	case ',':
		s.pos++
		s.ws()
		return true, nil
	case end:
		s.pos++
		return false, nil
	}
	return false, errSyntax
}

// peek returns the byte at s.pos, 0 at the end of the body.
func (s *scanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// end checks that only whitespace follows the top-level value.
func (s *scanner) end() *FieldError {
	s.ws()
	if s.pos != len(s.data) {
		return errSyntax
	}
	return nil
}

// settle turns the error that stopped a scan of body into the one to
// report: the description of the first syntax error if the body is not
// valid JSON, else the field error.
func settle(body []byte, ferr *FieldError) *FieldError {
	if verr := validateJSON(body); verr != nil {
		return verr
	}
	if ferr == errSyntax {
		// The scan and validateJSON disagree: a bug, which the
		// differential fuzz test exists to find. Refuse the body all
		// the same.
		return &FieldError{Index: -1, Msg: "malformed JSON: rejected by the scanner"}
	}
	return ferr
}

// validateJSON checks that body is one JSON value and reports the first
// syntax error with its byte offset, nil if there is none.
func validateJSON(body []byte) *FieldError {
	s := scanner{data: body}
	s.ws()
	if err := s.skipValue(0); err != nil {
		return err
	}
	if s.ws(); s.pos != len(body) {
		return s.syntaxErr(s.pos, "expected end of input after the top-level value")
	}
	return nil
}

// syntaxErr describes malformed JSON at offset off; what says what was
// expected there, and the byte found there is appended.
func (s *scanner) syntaxErr(off int, what string) *FieldError {
	return &FieldError{Index: -1, Msg: "malformed JSON: offset " + strconv.Itoa(off) + ": " + what + ", found " + s.found(off)}
}

// found describes the byte at off for syntaxErr.
func (s *scanner) found(off int) string {
	if off >= len(s.data) {
		return "end of input"
	}
	c := s.data[off]
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return "byte 0x" + strconv.FormatUint(uint64(c)|0x100, 16)[1:]
}

// skipValue validates and skips the JSON value at s.pos, nested depth
// arrays and objects deep.
func (s *scanner) skipValue(depth int) *FieldError {
	switch c := s.peek(); {
	case c == '"':
		return s.skipString()
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return &FieldError{Index: -1, Msg: "malformed JSON: offset " + strconv.Itoa(s.pos) + ": nesting deeper than " + strconv.Itoa(maxDepth)}
		}
		if c == '{' {
			return s.skipObject(depth + 1)
		}
		return s.skipArray(depth + 1)
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return s.skipNumber()
	}
	return s.syntaxErr(s.pos, "expected a value")
}

func (s *scanner) literal(lit string) *FieldError {
	for i := 0; i < len(lit); i++ {
		if s.pos+i >= len(s.data) || s.data[s.pos+i] != lit[i] {
			return s.syntaxErr(s.pos+i, "expected "+lit)
		}
	}
	s.pos += len(lit)
	return nil
}

func (s *scanner) skipNumber() *FieldError {
	data := s.data
	i := s.pos
	digits := func(what string) *FieldError {
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			return s.syntaxErr(i, what)
		}
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
		return nil
	}
	if data[i] == '-' {
		i++
	}
	if i < len(data) && data[i] == '0' {
		i++
	} else if err := digits("expected a digit"); err != nil {
		return err
	}
	if i < len(data) && data[i] == '.' {
		i++
		if err := digits("expected a digit after the decimal point"); err != nil {
			return err
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if err := digits("expected a digit in the exponent"); err != nil {
			return err
		}
	}
	s.pos = i
	return nil
}

func (s *scanner) skipString() *FieldError {
	data := s.data
	start := s.pos
	i := s.pos + 1
	for {
		for i < len(data) && !strStop[data[i]] {
			i++
		}
		if i >= len(data) {
			return s.syntaxErr(i, "expected '\"' to end the string that starts at offset "+strconv.Itoa(start))
		}
		switch c := data[i]; c {
		case '"':
			s.pos = i + 1
			return nil
		case '\\':
			_, n := decodeEscape(data[i:])
			if n == 0 {
				if i+1 < len(data) && data[i+1] == 'u' {
					return s.syntaxErr(i, `expected four hex digits after \u`)
				}
				return s.syntaxErr(i+1, `expected one of "\/bfnrtu after a backslash`)
			}
			i += n
		default:
			return s.syntaxErr(i, "expected '\"' or text in a string (control characters must be escaped)")
		}
	}
}

func (s *scanner) skipObject(depth int) *FieldError {
	s.pos++ // {
	if s.ws() == '}' {
		s.pos++
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.syntaxErr(s.pos, "expected '\"' to begin an object key")
		}
		if err := s.skipString(); err != nil {
			return err
		}
		if s.ws() != ':' {
			return s.syntaxErr(s.pos, "expected ':' after object key")
		}
		s.pos++
		s.ws()
		if err := s.skipValue(depth); err != nil {
			return err
		}
		switch s.ws() {
		case ',':
			s.pos++
			s.ws()
		case '}':
			s.pos++
			return nil
		default:
			return s.syntaxErr(s.pos, "expected ',' or '}' after object value")
		}
	}
}

func (s *scanner) skipArray(depth int) *FieldError {
	s.pos++ // [
	if s.ws() == ']' {
		s.pos++
		return nil
	}
	for {
		if err := s.skipValue(depth); err != nil {
			return err
		}
		switch s.ws() {
		case ',':
			s.pos++
			s.ws()
		case ']':
			s.pos++
			return nil
		default:
			return s.syntaxErr(s.pos, "expected ',' or ']' after array element")
		}
	}
}

// scanBody runs scan, a format's reader of a whole body, with a pooled
// builder, and turns its error into the one reported to the client.
func scanBody(body []byte, receivedAt time.Time, scan func(*scanner, *builder, time.Time) ([]Event, *FieldError)) ([]Event, error) {
	b := getBuilder()
	defer putBuilder(b)
	s := scanner{data: body, tmp: b.tmp}
	events, ferr := scan(&s, b, receivedAt)
	b.tmp = s.tmp
	if ferr != nil {
		return nil, settle(body, ferr)
	}
	return events, nil
}

// objects reads the array at s.pos, whose elements must be objects,
// appending an event to b.events for each and filling it with read. A
// non-object element is refused with notObject at its index.
func (s *scanner) objects(b *builder, notObject string, read func(i int, e *Event) *FieldError) *FieldError {
	s.pos++ // [
	if s.ws() == ']' {
		s.pos++
		return nil
	}
	for i := 0; ; i++ {
		if s.peek() != '{' {
			return fieldErr(i, "", notObject)
		}
		b.events = append(b.events, Event{})
		if ferr := read(i, &b.events[i]); ferr != nil {
			return ferr
		}
		more, ferr := s.next(']')
		if ferr != nil || !more {
			return ferr
		}
	}
}
