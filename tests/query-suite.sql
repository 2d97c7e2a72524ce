-- The query suite: what a quality team asks of the lake, over every kind of table, view,
-- join, subquery and table function. Run by `yieldlake serve`'s tests (Rust Flight SQL
-- client, Python ADBC), its benchmark and the Ballista check, each result compared with
-- `yieldlake sql`. Every query orders its rows completely. One query per `-- name:` block.

-- name: yield per wafer
SELECT lot_id, wafer_id, count(*) AS dies, avg(CASE WHEN passed THEN 1.0 ELSE 0.0 END) AS yield
FROM final_parts WHERE wafer_id IS NOT NULL GROUP BY lot_id, wafer_id ORDER BY lot_id, wafer_id;

-- name: bin Pareto per lot
SELECT lot_id, hard_bin, count(*) AS n FROM final_parts GROUP BY lot_id, hard_bin ORDER BY lot_id, n DESC, hard_bin;

-- name: per-test mean, sd, Cpk per wafer
SELECT wafer_id, test_num, count(*) AS n, avg(result) AS mean, stddev(result) AS sd,
  least(max(hi_limit) - avg(result), avg(result) - min(lo_limit)) / (3 * stddev(result)) AS cpk
FROM results_final WHERE wafer_id IS NOT NULL GROUP BY wafer_id, test_num ORDER BY wafer_id, test_num;

-- name: one test over results_final
SELECT lot_id, count(*) AS n, CAST(min(result) AS DOUBLE) AS lo, CAST(max(result) AS DOUBLE) AS hi FROM results_final
WHERE test_num = (SELECT min(test_num) FROM tests) GROUP BY lot_id ORDER BY lot_id;

-- name: files per lot and stage
SELECT lot_id, stage, count(*) AS files, sum(size_bytes) AS bytes FROM files GROUP BY lot_id, stage ORDER BY lot_id, stage;

-- name: parts joined to files
SELECT f.lot_id, f.file_name, count(*) AS parts, sum(CASE WHEN p.passed THEN 1 ELSE 0 END) AS good
FROM parts p JOIN files f ON p.file_id = f.file_id GROUP BY f.lot_id, f.file_name ORDER BY f.lot_id, f.file_name;

-- name: subquery on files
SELECT count(*) AS n FROM parts WHERE file_id IN (SELECT file_id FROM files WHERE stage IS NOT NULL);

-- name: final dies per lot
SELECT lot_id, count(*) AS dies, sum(CASE WHEN passed THEN 1 ELSE 0 END) AS good FROM final_dies GROUP BY lot_id ORDER BY lot_id;

-- name: bins table
SELECT lot_id, bin_type, bin_num, sum(bin_count) AS n FROM bins WHERE overall GROUP BY lot_id, bin_type, bin_num ORDER BY lot_id, bin_type, bin_num;

-- name: yield_by lot
SELECT * FROM yield_by('lot') ORDER BY 1;

-- name: test_stats by lot
SELECT * FROM test_stats('lot') ORDER BY 1, 2, 3;
