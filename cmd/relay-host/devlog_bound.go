package main

// announceMemory bounds the bufferIds the dev log remembers as reported by
// the edge. A host step waits for its forward's report for at most
// holdLimit, so only the newest ids matter: this is a quarter of a second
// at over 16,000 forwards/s, and keeps a long dev session from growing with
// every request.
const announceMemory = 4096

// announceLocked records that the edge reported bufferID, forgetting the
// oldest beyond announceMemory. l.mu must be held.
func (l *devLog) announceLocked(bufferID string) {
	if l.announced[bufferID] {
		return
	}
	l.announced[bufferID] = true
	l.announcedOrder = append(l.announcedOrder, bufferID)
	if len(l.announcedOrder) > announceMemory {
		delete(l.announced, l.announcedOrder[0])
		l.announcedOrder = l.announcedOrder[1:]
	}
}
