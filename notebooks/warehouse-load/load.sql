-- Jinja-templated SQL: each double-brace expression below is sent as a bound parameter
-- (never pasted into the SQL text), so no quoting is needed or wanted around them.
-- loaded_at is optional: without it the database's clock is used.

INSERT INTO loads (loaded_at, region, staged, inserted)
SELECT COALESCE({{ loaded_at | default(none) }}, CURRENT_TIMESTAMP),
       {{ region | default("all") }},
       (SELECT COUNT(*) FROM staging_orders),
       (SELECT COUNT(*) FROM staging_orders s
         WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = s.order_id));

-- Only the orders not loaded yet: re-running the same day inserts nothing twice.
INSERT INTO orders (order_id, order_date, region, product, amount)
SELECT s.order_id, s.order_date, s.region, s.product, s.amount
  FROM staging_orders s
 WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = s.order_id);
