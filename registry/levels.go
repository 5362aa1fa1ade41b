package registry

import "strings"

// Compatibility levels; part of the REST API.
const (
	LevelNone               = "NONE"
	LevelBackward           = "BACKWARD"
	LevelBackwardTransitive = "BACKWARD_TRANSITIVE"
	LevelForward            = "FORWARD"
	LevelForwardTransitive  = "FORWARD_TRANSITIVE"
	LevelFull               = "FULL"
	LevelFullTransitive     = "FULL_TRANSITIVE"
)

// Modes; part of the REST API.
const (
	ModeReadWrite = "READWRITE"
	ModeReadOnly  = "READONLY"
	ModeImport    = "IMPORT"
)

// parseLevel normalizes a level name; ok is false if it is not one.
func parseLevel(l string) (string, bool) {
	l = strings.ToUpper(strings.TrimSpace(l))
	switch l {
	case LevelNone, LevelBackward, LevelBackwardTransitive, LevelForward,
		LevelForwardTransitive, LevelFull, LevelFullTransitive:
		return l, true
	}
	return "", false
}

func parseMode(m string) (string, bool) {
	m = strings.ToUpper(strings.TrimSpace(m))
	switch m {
	case ModeReadWrite, ModeReadOnly, ModeImport:
		return m, true
	}
	return "", false
}

// directions says which checks a level runs against each old schema:
// backward (new reads old), forward (old reads new), and whether all old
// versions count or only the latest.
func directions(level string) (backward, forward, transitive bool) {
	switch level {
	case LevelBackward:
		return true, false, false
	case LevelBackwardTransitive:
		return true, false, true
	case LevelForward:
		return false, true, false
	case LevelForwardTransitive:
		return false, true, true
	case LevelFull:
		return true, true, false
	case LevelFullTransitive:
		return true, true, true
	}
	return false, false, false
}
