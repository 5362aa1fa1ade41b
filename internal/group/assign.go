package group

// uniformAssign spreads the partitions of the subscribed topics over the
// members subscribed to them so that counts differ by at most one where
// subscriptions allow, keeping each partition with its previous target
// owner when that owner is under its share (sticky).
func uniformAssign(members []*cmember, topics []string, infos map[string]TopicInfo, prev map[string]map[tp]bool) map[string]map[tp]bool {
	out := make(map[string]map[tp]bool, len(members))
	load := map[string]int{}
	subscribed := map[string][]*cmember{}
	for _, m := range members {
		out[m.id] = map[tp]bool{}
		for _, t := range m.topics {
			subscribed[t] = append(subscribed[t], m)
		}
	}
	var all []tp
	owner := map[tp]string{}
	for _, t := range topics {
		info, ok := infos[t]
		if !ok || len(subscribed[t]) == 0 {
			continue
		}
		for p := int32(0); p < info.Partitions; p++ {
			all = append(all, tp{info.ID, p})
		}
	}
	for id, set := range prev {
		for p := range set {
			owner[p] = id
		}
	}
	n := len(members)
	if n == 0 {
		return out
	}
	// Each member may keep up to floor(P/M) partitions; the first
	// P mod M members to reach it may keep one more.
	quota, extra := len(all)/n, len(all)%n
	eligible := func(m *cmember, p tp) bool {
		for _, t := range m.topics {
			if info, ok := infos[t]; ok && info.ID == p.id {
				return true
			}
		}
		return false
	}
	byID := map[string]*cmember{}
	for _, m := range members {
		byID[m.id] = m
	}
	var rest []tp
	for _, p := range all {
		m := byID[owner[p]]
		if m != nil && eligible(m, p) {
			if load[m.id] < quota {
				out[m.id][p] = true
				load[m.id]++
				continue
			}
			if load[m.id] == quota && extra > 0 {
				out[m.id][p] = true
				load[m.id]++
				extra--
				continue
			}
		}
		rest = append(rest, p)
	}
	for _, p := range rest {
		var best *cmember
		for _, m := range members {
			if eligible(m, p) && (best == nil || load[m.id] < load[best.id]) {
				best = m
			}
		}
		if best != nil {
			out[best.id][p] = true
			load[best.id]++
		}
	}
	return out
}
