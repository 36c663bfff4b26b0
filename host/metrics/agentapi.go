package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// newAnswerActions is the counter of the actions carried by agents'
// answers (a webhook answer's "actions"), by op and by the HTTP status the
// agent API gave each.
func newAnswerActions() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "answer_actions_total",
		Help: "Actions carried by agents' answers, run after the event settled, by op and agent API status (200, 400, 409, 502, 503, …)."},
		[]string{"op", "status"})
}

// AnswerAction counts one action of an agent's answer and the status the
// agent API answered it with.
func (m *Metrics) AnswerAction(op string, status int) {
	if op == "" {
		op = "none"
	}
	m.answerActions.WithLabelValues(op, strconv.Itoa(status)).Inc()
}
