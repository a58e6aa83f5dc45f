package score

// Levels are the score thresholds of a verdict.
type Levels struct {
	Tag  float64 // at or above: spam, tagged and delivered (SpamAssassin's required_score)
	Kill float64 // at or above: rejected; should not be below Tag
}

// Default levels, used for fields left zero: 4.5 tags a little earlier than
// SpamAssassin's 5.0 because our own checks add points SpamAssassin lacks;
// 16 rejects only what is spam beyond doubt.
const (
	DefaultTag  = 4.5
	DefaultKill = 16
)

// withDefaults fills in the zero fields. A Tag of exactly 0 is thus not
// expressible; nobody wants every message tagged.
func (l Levels) withDefaults() Levels {
	if l.Tag == 0 {
		l.Tag = DefaultTag
	}
	if l.Kill == 0 {
		l.Kill = DefaultKill
	}
	return l
}

// Verdict is what to do with a message.
type Verdict int

const (
	Ham  Verdict = iota // below Tag
	Spam                // at or above Tag: tag it
	Kill                // at or above Kill: reject it
)

func (v Verdict) String() string {
	switch v {
	case Ham:
		return "ham"
	case Spam:
		return "spam"
	case Kill:
		return "kill"
	}
	return "Verdict(?)"
}

// Verdict compares the score with the levels as SpamAssassin's is_spam does:
// the unrounded score (to three decimals), so 4.46 is ham at Tag 4.5 even
// though it prints as 4.5 would; Headers then shows it as 4.4.
func (s *Sheet) Verdict(l Levels) Verdict {
	l = l.withDefaults()
	sum := s.sum()
	switch {
	case sum >= l.Kill && sum >= l.Tag:
		return Kill
	case sum >= l.Tag:
		return Spam
	}
	return Ham
}
