cargo bench --bench offline -- 10000 100000 1000000
