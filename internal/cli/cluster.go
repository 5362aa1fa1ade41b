package cli

import (
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/internal/buildinfo"
)

func newClusterCmd() *cobra.Command {
	c := &conn{}
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Show the cluster's brokers, controller and protocol versions",
		Example: `  herald cluster info
  herald cluster info --api-versions`,
	}
	addConnFlags(cmd, c, true)
	cmd.AddCommand(newClusterInfoCmd(c))
	return cmd
}

type clusterInfo struct {
	ClusterID  string          `json:"cluster_id" yaml:"cluster_id"`
	Controller int32           `json:"controller" yaml:"controller"`
	Brokers    []brokerInfo    `json:"brokers" yaml:"brokers"`
	Versions   []brokerVersion `json:"versions" yaml:"versions"`
}

type brokerInfo struct {
	ID   int32  `json:"id" yaml:"id"`
	Host string `json:"host" yaml:"host"`
	Port int32  `json:"port" yaml:"port"`
	Rack string `json:"rack,omitempty" yaml:"rack,omitempty"`
}

type brokerVersion struct {
	Broker int32 `json:"broker" yaml:"broker"`
	// Software is what the broker runs: "herald <version>" from a Herald
	// broker's read-only herald.version config, else "Kafka <guess>
	// (guessed from API versions)".
	Software string `json:"software" yaml:"software"`
	// KafkaVersion is franz-go's guess of the Kafka release whose API
	// versions match the broker's, e.g. "v3.7" or "unknown"; only for
	// brokers that do not say what they are.
	KafkaVersion string       `json:"kafka_version_guess,omitempty" yaml:"kafka_version_guess,omitempty"`
	APIs         []apiVersion `json:"apis" yaml:"apis"`
	Error        string       `json:"error,omitempty" yaml:"error,omitempty"`
}

type apiVersion struct {
	Key  int16  `json:"key" yaml:"key"`
	Name string `json:"name" yaml:"name"`
	Min  int16  `json:"min" yaml:"min"`
	Max  int16  `json:"max" yaml:"max"`
}

func newClusterInfoCmd(c *conn) *cobra.Command {
	var (
		format   string
		showAPIs bool
	)
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Show the cluster ID, controller, brokers and API versions",
		Example: `  herald cluster info
  herald cluster info --api-versions
  herald cluster info -o json | jq .brokers`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			adm, err := c.admin(cmd)
			if err != nil {
				return err
			}
			defer adm.Close()
			info, err := describeCluster(cmd, adm)
			if err != nil {
				return err
			}
			return emit(cmd.OutOrStdout(), format, info, func(w io.Writer) error {
				return writeClusterInfo(w, info, showAPIs)
			})
		},
	}
	cmd.Flags().BoolVar(&showAPIs, "api-versions", false, "list every API key with its version range (always in json and yaml)")
	addFormatFlag(cmd, &format)
	return cmd
}

func describeCluster(cmd *cobra.Command, adm *kadm.Client) (clusterInfo, error) {
	md, err := adm.BrokerMetadata(cmd.Context())
	if err != nil {
		return clusterInfo{}, fmt.Errorf("cluster metadata: %w", err)
	}
	info := clusterInfo{ClusterID: md.Cluster, Controller: md.Controller}
	for _, b := range md.Brokers {
		bi := brokerInfo{ID: b.NodeID, Host: b.Host, Port: b.Port}
		if b.Rack != nil {
			bi.Rack = *b.Rack
		}
		info.Brokers = append(info.Brokers, bi)
	}
	vs, err := adm.ApiVersions(cmd.Context())
	if err != nil {
		return clusterInfo{}, fmt.Errorf("api versions: %w", err)
	}
	herald := heraldVersions(cmd, adm, md.Brokers.NodeIDs())
	for _, v := range vs.Sorted() {
		bv := brokerVersion{Broker: v.NodeID, Error: errString(v.Err), APIs: []apiVersion{}}
		if hv, ok := herald[v.NodeID]; ok {
			bv.Software = "herald " + hv
		} else if v.Err == nil {
			bv.KafkaVersion = v.VersionGuess()
			bv.Software = "Kafka " + bv.KafkaVersion + " (guessed from API versions)"
		}
		if v.Err == nil {
			v.EachKeySorted(func(key, minV, maxV int16) {
				bv.APIs = append(bv.APIs, apiVersion{Key: key, Name: kmsg.NameForKey(key), Min: minV, Max: maxV})
			})
		}
		info.Versions = append(info.Versions, bv)
	}
	return info, nil
}

// heraldVersions asks each broker for its herald.version config, which
// only Herald brokers have (the Kafka protocol carries no server version).
// A broker that fails or lacks it is left out.
func heraldVersions(cmd *cobra.Command, adm *kadm.Client, ids []int32) map[int32]string {
	out := map[int32]string{}
	for _, id := range ids {
		rcs, err := adm.DescribeBrokerConfigs(cmd.Context(), id)
		if err != nil {
			continue
		}
		for _, rc := range rcs {
			if rc.Err != nil {
				continue
			}
			for _, c := range rc.Configs {
				if c.Key == buildinfo.ConfigName && c.Value != nil && *c.Value != "" {
					out[id] = *c.Value
				}
			}
		}
	}
	return out
}

func writeClusterInfo(w io.Writer, info clusterInfo, showAPIs bool) error {
	fmt.Fprintf(w, "CLUSTER\n=======\n%-12s%s\n%-12s%d\n\n", "ID", dash(info.ClusterID), "CONTROLLER", info.Controller)
	var rows [][]string
	for _, b := range info.Brokers {
		rows = append(rows, []string{strconv.Itoa(int(b.ID)), b.Host, strconv.Itoa(int(b.Port)), dash(b.Rack)})
	}
	if err := writeSection(w, "BROKERS", []string{"ID", "HOST", "PORT", "RACK"}, rows); err != nil {
		return err
	}
	rows = nil
	for _, v := range info.Versions {
		rows = append(rows, []string{strconv.Itoa(int(v.Broker)), strconv.Itoa(len(v.APIs)), dash(v.Software), dash(v.Error)})
	}
	if err := writeSection(w, "VERSIONS", []string{"BROKER", "API-KEYS", "SOFTWARE", "ERROR"}, rows); err != nil {
		return err
	}
	if !showAPIs {
		return nil
	}
	rows = nil
	for _, v := range info.Versions {
		for _, a := range v.APIs {
			rows = append(rows, []string{strconv.Itoa(int(v.Broker)), strconv.Itoa(int(a.Key)), a.Name, strconv.Itoa(int(a.Min)), strconv.Itoa(int(a.Max))})
		}
	}
	return writeSection(w, "API VERSIONS", []string{"BROKER", "KEY", "NAME", "MIN", "MAX"}, rows)
}
