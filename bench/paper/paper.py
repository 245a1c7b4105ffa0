"""The VMASK paper's published numbers (Chen & Ji, EMNLP 2020; /work/shared/reference/vmask-paper.txt),
typed in from its Tables 3, 4, 7 and 11 so that summarize.py can print them beside ours. Only the
datasets this study runs are kept (Yelp and AG News train are not available here). Figure 1 is a plot
without numbers in the text, so it has no entry.
"""

DATASETS = ["sst1", "sst2", "trec", "subj", "imdb"]
NAMES = {"sst1": "SST-1", "sst2": "SST-2", "trec": "TREC", "subj": "Subj", "imdb": "IMDB"}

# Table 7: vocabulary size, low-frequency threshold (words seen at most this often are dropped),
# mini-batch sentence length.
TABLE7 = {
    "imdb": (29571, 5, 250),
    "sst1": (17838, 0, 50),
    "sst2": (16190, 0, 50),
    "trec": (8026, 0, 15),
    "subj": (9965, 1, 25),
}

# Table 3: test accuracy (%), [model][method][dataset].
TABLE3 = {
    "cnn": {
        "base": {"imdb": 89.06, "sst1": 46.32, "sst2": 85.50, "trec": 92.40, "subj": 92.80},
        "l2": {"imdb": 89.12, "sst1": 46.01, "sst2": 85.56, "trec": 90.62, "subj": 92.39},
        "l2x": {"imdb": 78.94, "sst1": 37.92, "sst2": 80.01, "trec": 61.00, "subj": 82.40},
        "iba": {"imdb": 88.31, "sst1": 41.40, "sst2": 84.24, "trec": 89.80, "subj": 91.80},
        "vmask": {"imdb": 90.10, "sst1": 48.92, "sst2": 85.78, "trec": 93.02, "subj": 93.50},
    },
    "lstm": {
        "base": {"imdb": 88.39, "sst1": 43.84, "sst2": 83.74, "trec": 90.40, "subj": 90.20},
        "l2": {"imdb": 88.40, "sst1": 43.91, "sst2": 83.36, "trec": 90.20, "subj": 89.10},
        "l2x": {"imdb": 67.45, "sst1": 36.92, "sst2": 75.45, "trec": 46.00, "subj": 81.80},
        "iba": {"imdb": 88.48, "sst1": 42.99, "sst2": 83.53, "trec": 85.40, "subj": 89.50},
        "vmask": {"imdb": 90.07, "sst1": 44.12, "sst2": 84.35, "trec": 90.80, "subj": 91.20},
    },
}

# Table 4: AOPC (%) deleting the top 5 words, [explainer][model][method][dataset].
TABLE4 = {
    "lime": {
        "cnn": {
            "base": {"imdb": 14.47, "sst1": 7.59, "sst2": 16.50, "trec": 15.28, "subj": 9.77},
            "vmask": {"imdb": 14.74, "sst1": 8.63, "sst2": 18.86, "trec": 14.81, "subj": 12.40},
        },
        "lstm": {
            "base": {"imdb": 14.34, "sst1": 8.76, "sst2": 17.03, "trec": 11.95, "subj": 9.67},
            "vmask": {"imdb": 15.10, "sst1": 9.52, "sst2": 22.14, "trec": 11.97, "subj": 11.68},
        },
    },
    "shapley": {
        "cnn": {
            "base": {"imdb": 15.53, "sst1": 7.63, "sst2": 13.15, "trec": 14.97, "subj": 8.84},
            "vmask": {"imdb": 15.53, "sst1": 8.33, "sst2": 15.95, "trec": 15.03, "subj": 12.88},
        },
        "lstm": {
            "base": {"imdb": 15.80, "sst1": 7.91, "sst2": 22.38, "trec": 11.90, "subj": 11.66},
            "vmask": {"imdb": 16.48, "sst1": 9.73, "sst2": 22.52, "trec": 11.86, "subj": 12.74},
        },
    },
}

# Table 11: Pearson r between word frequency and VMASK's global importance, [model][dataset].
TABLE11 = {
    "cnn": {"imdb": -0.045, "sst1": -0.079, "sst2": -0.067, "trec": -0.018, "subj": -0.010},
    "lstm": {"imdb": -0.018, "sst1": -0.070, "sst2": -0.068, "trec": -0.026, "subj": -0.003},
}
