package broker

import (
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// MaxTopicNameLen is Kafka's limit: 249, so that "<name>-<partition>" fits a
// 255-byte file name.
const MaxTopicNameLen = 249

// ValidateTopicName checks a name as Kafka does: 1 to 249 characters from
// [a-zA-Z0-9._-], and not "." or "..".
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return kafkaErr(kerr.InvalidTopicException, "topic name is empty")
	case name == "." || name == "..":
		return kafkaErr(kerr.InvalidTopicException, fmt.Sprintf("topic name cannot be %q", name))
	case len(name) > MaxTopicNameLen:
		return kafkaErr(kerr.InvalidTopicException,
			fmt.Sprintf("topic name is %d characters, the limit is %d", len(name), MaxTopicNameLen))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !legalTopicChar(c) {
			return kafkaErr(kerr.InvalidTopicException,
				fmt.Sprintf("topic name %q contains %q; legal characters are ASCII letters, digits, '.', '_' and '-'", name, c))
		}
	}
	return nil
}

// IsInternal reports whether name is one of Kafka's internal topics, which
// Metadata marks IsInternal: the group coordinator's __consumer_offsets
// the transaction coordinator's __transaction_state and the share
// coordinator's __share_group_state.
func IsInternal(name string) bool {
	return name == "__consumer_offsets" || name == "__transaction_state" || name == "__share_group_state"
}

func legalTopicChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}

// collisionKey is the name with '.' replaced by '_': Kafka refuses a topic
// whose key equals an existing topic's, because metric names would collide.
func collisionKey(name string) string { return strings.ReplaceAll(name, ".", "_") }
