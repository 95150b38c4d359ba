-- Every connected agent's heartbeat rewrites its "Node" row ("lastSeenAt", NodesService.heartbeatMany), 2,000
-- rows every few seconds at fleet scale. With "lastSeenAt" in an index none of those updates could be HOT
-- (heap-only: the new version on the same page, no index entry), so every heartbeat left a dead row and a dead
-- index entry behind until a vacuum: after a 25-minute fleet benchmark the table held 2,000 live rows, 5.6 M
-- dead ones and 1.36 GB, and the node plan of every POST /jobs (a scan of "Node") took 0.3-0.8 s.
-- The index served only the silent-node sweep, which reads at most a few thousand rows: a scan of a compact
-- table does it. Without it, heartbeats are HOT updates, and the half of each page left free (fillfactor 50)
-- gives the new versions room on their own page, where reads prune the dead ones without waiting for a vacuum.
DROP INDEX "Node_status_lastSeenAt_idx";
ALTER TABLE "Node" SET (fillfactor = 50);
