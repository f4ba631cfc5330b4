-- Project 031's benchmark, pgbench's side (bench/queue_bench.sh): one no-op job per
-- transaction, claimed and completed with the statements a 031_task_queue worker sends
-- (task_queue.cpp's claim_sql with n = 1 and the worker's four kinds, then complete), each
-- in its own implicit transaction as the worker's are. The jobs table must hold enough
-- waiting jobs: \gset fails when the claim returns no row.
UPDATE jobs SET state = 'running', attempts = attempts + 1, worker = 'pgbench', lease_until = tq_now() + 30000::bigint * interval '1 ms' WHERE id IN (SELECT id FROM jobs WHERE ((state = 'waiting' AND run_at <= tq_now()) OR (state = 'running' AND lease_until < tq_now())) AND ('echo,fail,record,sleep' = '' OR kind = ANY (string_to_array('echo,fail,record,sleep', ','))) ORDER BY priority DESC, run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, kind, payload, priority, attempts AS attempt, max_attempts \gset
UPDATE jobs SET state = 'done', finished_at = tq_now(), lease_until = NULL, last_error = NULL WHERE id = :id AND worker = 'pgbench' AND attempts = :attempt AND state = 'running' RETURNING id;
