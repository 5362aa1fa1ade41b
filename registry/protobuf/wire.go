package protobuf

import (
	"encoding/binary"
	"errors"
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Message indexes locate a message type in its .proto file in Confluent's
// Protobuf wire format. After the magic byte and schema id comes
//
//	varint(len(idx)) varint(idx[0]) ... varint(idx[n-1])    (zig-zag varints)
//
// where idx[0] is the index of a top-level message in the file, idx[1] the
// index of a message nested in it, and so on. The common case, the first
// message of the file ([0]), is written as the single byte 0.
// Part of the wire format; do not change.

// Indexes returns the message indexes of md in its file.
func Indexes(md protoreflect.MessageDescriptor) []int {
	var rev []int
	for d := protoreflect.Descriptor(md); ; {
		m, ok := d.(protoreflect.MessageDescriptor)
		if !ok {
			break
		}
		rev = append(rev, m.Index())
		d = m.Parent()
	}
	out := make([]int, len(rev))
	for i := range rev {
		out[i] = rev[len(rev)-1-i]
	}
	return out
}

// AppendIndexes appends the encoding of idx to b.
func AppendIndexes(b []byte, idx []int) []byte {
	if len(idx) == 1 && idx[0] == 0 {
		return append(b, 0)
	}
	b = binary.AppendVarint(b, int64(len(idx)))
	for _, i := range idx {
		b = binary.AppendVarint(b, int64(i))
	}
	return b
}

// ErrBadIndexes means the message indexes of a payload are malformed.
var ErrBadIndexes = errors.New("protobuf: malformed message indexes")

// ReadIndexes decodes message indexes from the start of b and returns them
// and the number of bytes read. A count of 0 means [0].
func ReadIndexes(b []byte) ([]int, int, error) {
	n, read := binary.Varint(b)
	if read <= 0 || n < 0 || n > 128 {
		return nil, 0, ErrBadIndexes
	}
	if n == 0 {
		return []int{0}, read, nil
	}
	idx := make([]int, n)
	for i := range idx {
		v, m := binary.Varint(b[read:])
		if m <= 0 || v < 0 || v > 1<<20 {
			return nil, 0, ErrBadIndexes
		}
		idx[i] = int(v)
		read += m
	}
	return idx, read, nil
}

// MessageAt returns the message idx locates in fd.
func MessageAt(fd protoreflect.FileDescriptor, idx []int) (protoreflect.MessageDescriptor, error) {
	ms := fd.Messages()
	var md protoreflect.MessageDescriptor
	for _, i := range idx {
		if i >= ms.Len() {
			return nil, fmt.Errorf("protobuf: message index %v not in %s", idx, fd.Path())
		}
		md = ms.Get(i)
		ms = md.Messages()
	}
	if md == nil {
		return nil, ErrBadIndexes
	}
	return md, nil
}
