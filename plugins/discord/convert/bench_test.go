package convert

import (
	"testing"

	"github.com/relayhost/relay-host/pluginapi"
)

// typicalGolden is the body BenchmarkConvert/slash_command_typical converts:
// Discord's documented slash command example (guild member, one string
// option, about 1 KB).
const typicalGolden = "slash_command_docs_cardsearch"

// BenchmarkConvert measures conversions per second on one core:
//
//	go test -run '^$' -bench Convert -benchmem -cpu 1 ./plugins/discord/convert
//
// slash_command_typical is the number to hold at ≥ 50,000 conversions/s;
// all_goldens converts the whole golden set per iteration and reports the
// mean; the per-golden sub-benchmarks show where the time goes.
func BenchmarkConvert(b *testing.B) {
	goldens := loadGoldens(b)
	for _, g := range goldens {
		if g.name == typicalGolden {
			b.Run("slash_command_typical", func(b *testing.B) { benchOne(b, g.forward) })
		}
	}
	b.Run("all_goldens", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, g := range goldens {
				Convert(g.forward)
			}
		}
		conversions := float64(b.N) * float64(len(goldens))
		b.ReportMetric(conversions/b.Elapsed().Seconds(), "conversions/s")
	})
	for _, g := range goldens {
		b.Run(g.name, func(b *testing.B) { benchOne(b, g.forward) })
	}
}

func benchOne(b *testing.B, f pluginapi.Forward) {
	b.ReportAllocs()
	b.SetBytes(int64(len(f.Body)))
	for b.Loop() {
		Convert(f)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conversions/s")
}
